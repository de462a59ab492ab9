/**
 * The dashboard's stylesheet, kept as a module so that the one build (`tsc -p
 * tsconfig.build.json`) puts it in dist/ with the rest. System fonts only: nothing is fetched
 * from anywhere but the API itself.
 */
export const STYLESHEET = `
:root {
  --bg: #f4f5f7; --fg: #1d2330; --muted: #6b7385; --panel: #fff; --line: #dde1e8;
  --ok: #1e8e4f; --warn: #b7791f; --bad: #c53030; --accent: #2b5fb8;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif;
  color: var(--fg); background: var(--bg);
}
* { box-sizing: border-box; }
body { margin: 0; }
h1, h2, h3, h4 { margin: 0 0 .4em; font-weight: 600; }
h1 { font-size: 1.2em; }
h2 { font-size: 1.1em; }
h3 { font-size: 1em; }
h4 { font-size: .85em; color: var(--muted); margin-top: .6em; }
code, pre, .console { font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
.bar { display: flex; align-items: center; gap: 1.2em; padding: .6em 1.2em; background: #1d2330; color: #fff; }
.bar h1 { margin: 0; }
.bar .who { margin-left: auto; color: #c8cede; }
.tabs a { color: #c8cede; text-decoration: none; margin-right: 1em; padding: .2em 0; }
.tabs a[aria-current="page"] { color: #fff; border-bottom: 2px solid #fff; }
button { font: inherit; padding: .3em .8em; border: 1px solid var(--line); border-radius: 4px; background: #fff; cursor: pointer; }
button.danger { color: var(--bad); }
.bar button { background: transparent; color: #fff; border-color: #4a5368; }
.content { padding: 1em 1.2em; max-width: 1400px; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: .8em 1em; margin-bottom: 1em; }
.panels { display: grid; grid-template-columns: repeat(auto-fit, minmax(280px, 1fr)); gap: 1em; }
.panels .panel { margin: 0; min-width: 0; overflow-x: auto; }
td.num, th.num { text-align: right; white-space: nowrap; }
.muted { color: var(--muted); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .25em .5em; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 500; font-size: .9em; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2em 1em; margin: .4em 0; }
dt { color: var(--muted); }
dd { margin: 0; }
.rack-head { display: flex; align-items: baseline; gap: 1em; }
.live { font-size: .85em; color: var(--muted); }
.live[data-state="live"] { color: var(--ok); }
.live[data-state="live"]::before { content: "● "; }
.live[data-state="reconnecting"] { color: var(--warn); }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(240px, 1fr)); gap: 1em; margin: .6em 0 1em; }
.tile { background: var(--panel); border: 1px solid var(--line); border-left: 5px solid var(--warn); border-radius: 6px; padding: .7em .9em; }
.tile.ready { border-left-color: var(--ok); }
.tile.phase-failed, .tile.phase-fenced { border-left-color: var(--bad); }
.tile.phase-discovered { border-left-color: var(--muted); }
.tile header { display: flex; justify-content: space-between; align-items: baseline; }
.tile h3 { margin: 0; }
.phase { margin: .2em 0; font-weight: 500; }
.why { margin: .3em 0; color: var(--warn); }
.phase-failed .why, .phase-fenced .why { color: var(--bad); }
.power { font-size: .8em; padding: .05em .5em; border-radius: 9px; background: #e6e8ee; }
.power-on { background: #d9f2e3; color: var(--ok); }
.power-off { background: #f8dcdc; color: var(--bad); }
.chips { display: flex; flex-wrap: wrap; gap: .3em; margin: .3em 0; }
.chip { font-size: .8em; padding: .05em .5em; border-radius: 9px; background: #e3ebfa; color: var(--accent); }
.servers { list-style: none; padding: 0; margin: 0; }
.services { margin: .2em 0; padding-left: 1.2em; }
.status { font-size: .85em; font-weight: 500; }
.status-active { color: var(--ok); }
.status-build, .status-reboot, .status-hard_reboot, .status-rebuild { color: var(--warn); }
.status-error { color: var(--bad); }
.health-health_ok { color: var(--ok); }
.health-health_warn { color: var(--warn); }
.health-health_err { color: var(--bad); }
.checks { color: var(--warn); margin: .2em 0; }
.timeline { list-style: none; padding: 0; margin: 0; max-height: 24em; overflow: auto; }
.timeline li { padding: .2em 0; border-bottom: 1px solid var(--line); }
.timeline time { color: var(--muted); font-variant-numeric: tabular-nums; }
.timeline .type { font-weight: 500; }
.message:empty { display: none; }
.message { padding: .4em .7em; border-radius: 4px; background: #e3ebfa; }
.message[data-kind="error"] { background: #f8dcdc; color: var(--bad); }
form.login { max-width: 22em; margin: 4em auto; background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 1.2em 1.4em; }
form label { display: block; margin: .6em 0; color: var(--muted); }
form input, form select { display: block; width: 100%; font: inherit; padding: .35em .5em; border: 1px solid var(--line); border-radius: 4px; color: var(--fg); }
form.create { display: grid; grid-template-columns: repeat(auto-fit, minmax(160px, 1fr)); gap: 0 1em; align-items: end; }
form.create label { margin: .3em 0; }
form.create button { margin: .3em 0; }
.actions { white-space: nowrap; }
.console { background: #1d2330; color: #e6e8ee; padding: .7em; border-radius: 4px; max-height: 20em; overflow: auto; white-space: pre-wrap; }
`;
