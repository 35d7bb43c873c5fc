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

/** A byte count for people: 512 B, 1.5 KB, 10 MB. */
export function formatBytes(bytes) {
  const units = ["B", "KB", "MB", "GB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const number = new Intl.NumberFormat(locale, { maximumFractionDigits: unit ? 1 : 0 });
  return `${number.format(value)} ${units[unit]}`;
}
