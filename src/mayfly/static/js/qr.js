// A QR code of the full link, drawn here as SVG: the key never leaves the browser.
import qrcode from "../vendor/qrcode-generator/qrcode.mjs";

const SVG = "http://www.w3.org/2000/svg";
const QUIET_ZONE = 4; // modules of light margin the standard asks for

/** Draw text as a QR code (error correction M) into container, replacing what was there. */
export function drawQr(container, text, label) {
  const code = qrcode(0, "M");
  code.addData(text, "Byte");
  code.make();
  const count = code.getModuleCount();
  const size = count + 2 * QUIET_ZONE;
  const path = [];
  for (let row = 0; row < count; row++) {
    for (let col = 0; col < count; col++) {
      if (code.isDark(row, col)) path.push(`M${col + QUIET_ZONE} ${row + QUIET_ZONE}h1v1h-1z`);
    }
  }
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${size} ${size}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  svg.setAttribute("shape-rendering", "crispEdges");
  const background = document.createElementNS(SVG, "rect");
  background.setAttribute("width", size);
  background.setAttribute("height", size);
  background.setAttribute("fill", "#fff");
  const modules = document.createElementNS(SVG, "path");
  modules.setAttribute("d", path.join(""));
  modules.setAttribute("fill", "#000");
  svg.append(background, modules);
  container.replaceChildren(svg);
}
