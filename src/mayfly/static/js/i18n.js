// The page's strings (from the server's catalogues, as JSON in the page) and formatting.

const source = document.getElementById("mayfly-strings");
const strings = source ? JSON.parse(source.textContent) : {};

/** The page's language as a BCP 47 tag (zh-CN, pt-BR, en). */
export const locale = document.documentElement.lang || "en";

const plurals = new Intl.PluralRules(locale);

/**
 * A translated string; %(name)s placeholders are filled from params. A string
 * with a count holds a form per plural category: params.n picks one.
 */
export function t(key, params = {}) {
  let text = Object.hasOwn(strings, key) ? strings[key] : key;
  if (typeof text === "object") text = text[plurals.select(Number(params.n))] ?? text.other;
  return text.replace(/%\((\w+)\)s/g, (_, name) => String(params[name] ?? ""));
}

/** An RFC 3339 time, in the reader's language and time zone. */
export function formatTime(iso) {
  if (!iso) return "";
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" })
    .format(new Date(iso));
}

const UNITS = ["B", "KiB", "MiB", "GiB"]; // binary units, named as such

/** The binary unit that suits a byte count: 0 for B, 1 for KiB... */
function unitOf(bytes) {
  let unit = 0;
  while (bytes >= 1024 ** (unit + 1) && unit < UNITS.length - 1) unit += 1;
  return unit;
}

function inUnit(bytes, unit, digits) {
  const number = new Intl.NumberFormat(locale, { maximumFractionDigits: unit ? digits : 0 });
  return `${number.format(bytes / 1024 ** unit)} ${UNITS[unit]}`;
}

/** A byte count for people: 512 B, 1.5 KiB, 10 MiB. */
export const formatBytes = (bytes) => inUnit(bytes, unitOf(bytes), 1);

/** A size and its limit, in binary units, with the digits it takes to tell them apart. */
export function formatAgainst(bytes, limit) {
  const [used, max] = [formatBytes(bytes), formatBytes(limit)];
  if (bytes === limit || used !== max) return { used, limit: max };
  // Just over (or under) the limit: the limit's unit, with more digits or a smaller unit.
  for (let unit = unitOf(limit); unit > 0; unit -= 1) {
    for (let digits = 1; digits <= 3; digits += 1) {
      const used = inUnit(bytes, unit, digits);
      const max = inUnit(limit, unit, digits);
      if (bytes === limit || used !== max) return { used, limit: max };
    }
  }
  return { used: inUnit(bytes, 0, 0), limit: inUnit(limit, 0, 0) };
}
