/**
 * The dashboard's HTML page: a shell that loads the stylesheet and the compiled modules (each
 * preloaded, so the browser fetches them at once rather than one import after another). Every
 * URL is relative to the page (`…/dashboard/`), so the page works behind a path prefix too.
 */

/** The page for assets under `assets/VERSION/`: the stylesheet and the modules, `main.js` first. */
export function indexHtml(version: string, stylesheet: string, modules: readonly string[]): string {
  const base = `assets/${version}/`;
  const preload = modules.map((m) => `<link rel="modulepreload" href="${base}${m}">`).join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>rackseed</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${base}${stylesheet}">
${preload}
<script type="module" src="${base}main.js"></script>
</head>
<body>
<noscript>The rackseed dashboard needs JavaScript.</noscript>
<main id="app"></main>
</body>
</html>
`;
}
