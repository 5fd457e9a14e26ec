// Escaping text for HTML and XML (the report's pages, SVG figures): one function, so every writer escapes alike.

/** Text safe inside an element or a double-quoted attribute. */
export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
