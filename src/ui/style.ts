/**
 * The dashboard's one stylesheet, served at /ui/style.css so the CSP can forbid inline styles.
 * System fonts only: no external assets.
 */
export const STYLESHEET = `
:root { color-scheme: light; --fg: #1d2330; --muted: #5b6475; --line: #d9dde5; --bg: #f6f7f9; --card: #fff; --accent: #0b5cad; --bad: #c62828; --warn: #a86400; --good: #1b7a3a; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
a { color: var(--accent); }
header.top { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem 1.5rem; padding: .6rem 1.25rem; background: #16202e; color: #fff; }
header.top .brand { font-weight: 700; color: #fff; text-decoration: none; }
header.top nav ul { display: flex; flex-wrap: wrap; gap: .25rem 1rem; list-style: none; margin: 0; padding: 0; }
header.top nav a { color: #cfe0f5; text-decoration: none; }
header.top nav a[aria-current="page"] { color: #fff; font-weight: 600; border-bottom: 2px solid #fff; }
header.top form.logout { margin-left: auto; }
header.top form.search { display: flex; gap: .3rem; flex: 1 1 16rem; max-width: 26rem; margin-left: auto; }
header.top form.search input { flex: 1; min-width: 0; padding: .2rem .45rem; border: 1px solid #51627a; border-radius: 4px; background: #0f1722; color: #fff; }
header.top form.search + form.logout { margin-left: 0; }
header.top button { background: transparent; color: #cfe0f5; border: 1px solid #51627a; border-radius: 4px; padding: .2rem .6rem; cursor: pointer; }
main { padding: 1rem 1.25rem 3rem; max-width: 1280px; margin: 0 auto; }
h1 { font-size: 1.4rem; margin: .4rem 0 1rem; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: .75rem 1rem; margin-bottom: 1rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(240px, 1fr)); gap: 1rem; }
.cards .card h2 { margin-top: 0; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
table { border-collapse: collapse; width: 100%; background: var(--card); border: 1px solid var(--line); }
caption { text-align: left; font-weight: 600; padding: .4rem 0; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #eef1f5; font-weight: 600; }
td.num, th.num { text-align: right; }
tr.finding td { background: #fdecec; }
tr.finding td:first-child { box-shadow: inset 4px 0 0 var(--bad); }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; overflow-wrap: anywhere; }
.verdict { display: inline-block; padding: .05rem .55rem; border-radius: 999px; font-weight: 600; color: #fff; }
.verdict-ok { background: var(--good); }
.verdict-warning { background: var(--warn); }
.verdict-problem { background: var(--bad); }
.verdict-unknown { background: var(--muted); }
.badge { display: inline-block; padding: 0 .4rem; border-radius: 4px; background: #eef1f5; border: 1px solid var(--line); font-size: 12px; }
.badge-bad { background: #fdecec; border-color: #f1b4b4; color: var(--bad); }
.badge-good { background: #e7f5ec; border-color: #a9d8b8; color: var(--good); }
.badge-warn { background: #fff4e0; border-color: #f0cf94; color: var(--warn); }
.notice { padding: .5rem .75rem; border-radius: 4px; margin-bottom: 1rem; border: 1px solid; }
.notice-ok { background: #e7f5ec; border-color: #a9d8b8; }
.notice-error { background: #fdecec; border-color: #f1b4b4; }
.filters { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; margin: 0 0 .75rem; }
.filters a[aria-current="true"] { font-weight: 700; text-decoration: none; color: var(--fg); }
form.inline { display: inline; margin: 0; }
button, input, select { font: inherit; }
button.action { background: var(--accent); color: #fff; border: 0; border-radius: 4px; padding: .2rem .7rem; cursor: pointer; }
.muted { color: var(--muted); }
.pager { margin: .75rem 0; }
.timeline-wrap { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: .5rem; overflow-x: auto; }
.timeline-wrap svg { display: block; width: 100%; min-width: 720px; height: auto; }
.legend { display: flex; flex-wrap: wrap; gap: .25rem 1.25rem; margin: .5rem 0 0; padding: 0; list-style: none; font-size: 12.5px; }
.legend .swatch { display: inline-block; width: .9em; height: .9em; vertical-align: -0.1em; margin-right: .3em; border: 1px solid rgba(0,0,0,.25); }
.login { max-width: 420px; margin: 4rem auto; }
.login label { display: block; margin-bottom: .3rem; font-weight: 600; }
.login input[type=password] { width: 100%; padding: .45rem .5rem; margin-bottom: .75rem; border: 1px solid var(--line); border-radius: 4px; }
[hidden] { display: none !important; }
.event-filters { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: end; margin: 0 0 .75rem; }
.event-filters label { display: flex; flex-direction: column; font-weight: 600; font-size: 12.5px; gap: .15rem; min-width: 0; }
.event-filters input { font-weight: 400; padding: .3rem .45rem; border: 1px solid var(--line); border-radius: 4px; width: 14rem; max-width: 100%; }
.live { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; margin: 0 0 .75rem; }
.live button { background: var(--card); border: 1px solid var(--line); border-radius: 4px; padding: .2rem .7rem; cursor: pointer; }
.live button[aria-pressed="true"] { background: #fff4e0; border-color: #f0cf94; }
.events { list-style: none; margin: 0; padding: 0; background: var(--card); border: 1px solid var(--line); border-top: 0; }
.events-head, .events summary { display: grid; grid-template-columns: 1rem 11.5rem 11rem 9rem 9rem minmax(0, 1fr); gap: .25rem .6rem; padding: .35rem .6rem; }
.events-head { background: #eef1f5; font-weight: 600; border: 1px solid var(--line); }
.events-head > *, .events summary > * { min-width: 0; overflow-wrap: anywhere; }
.events li + li { border-top: 1px solid var(--line); }
.events summary { cursor: pointer; list-style: none; }
.events summary::-webkit-details-marker { display: none; }
.events summary::before { content: "▸"; color: var(--muted); }
.events details[open] > summary::before { content: "▾"; }
.events details[open] > summary { background: #f3f6fb; }
.ev-late { display: block; font-size: 12px; }
.ev-json { margin: 0; padding: .5rem .75rem .75rem 1.6rem; background: #f8f9fb; border-top: 1px dashed var(--line); white-space: pre-wrap; overflow-wrap: anywhere; max-height: 32rem; overflow: auto; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
@media (max-width: 760px) {
  main { padding: .75rem .6rem 2rem; }
  .events-head { display: none; }
  .events { border-top: 1px solid var(--line); }
  .events summary { grid-template-columns: 1rem minmax(0, 1fr) minmax(0, 1fr); }
  .events summary::before { grid-row: 1; }
  .events summary .ev-type { grid-column: 2 / -1; grid-row: 1; font-weight: 600; }
  .events summary .ev-time { grid-column: 2; grid-row: 2 / span 2; }
  .events summary .ev-device { grid-column: 3; grid-row: 2; }
  .events summary .ev-user { grid-column: 3; grid-row: 3; }
  .events summary .ev-summary { grid-column: 2 / -1; grid-row: 4; }
  .event-filters label, .event-filters input { width: 100%; }
}
.notice-warn { background: #fff4e0; border-color: #f0cf94; }
.list-filters { display: flex; flex-wrap: wrap; gap: .5rem .75rem; align-items: end; margin: 0 0 .75rem; }
.list-filters label { display: flex; flex-direction: column; font-weight: 600; font-size: 12.5px; gap: .15rem; min-width: 0; }
.list-filters input, .list-filters select { font-weight: 400; padding: .25rem .4rem; border: 1px solid var(--line); border-radius: 4px; max-width: 100%; }
.list-filters input[type=text] { width: 11rem; }
.refresh { font-size: 12.5px; margin: 0 0 .5rem; }
table.evidence tr.changed td, table.evidence tr.changed th { background: #fff4e0; font-weight: 600; }
.state-forms { display: flex; flex-wrap: wrap; gap: .75rem; margin-top: .75rem; }
.state-forms form { display: flex; flex-direction: column; gap: .3rem; flex: 1 1 14rem; }
.state-forms textarea { font: inherit; padding: .3rem .45rem; border: 1px solid var(--line); border-radius: 4px; width: 100%; }
.state-forms button { align-self: flex-start; }
.note { white-space: pre-wrap; overflow-wrap: anywhere; }
pre.json { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: .6rem .75rem; white-space: pre-wrap; overflow-wrap: anywhere; max-height: 36rem; overflow: auto; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
details.raw { margin-top: 1rem; }
ol.lifecycle { margin: 0; padding-left: 1.25rem; }
.charts .card { min-width: 0; }
svg.chart { display: block; width: 100%; height: auto; }
.timeline-range { display: flex; flex-wrap: wrap; gap: .5rem .75rem; align-items: end; margin: 0 0 .5rem; }
.timeline-range label { display: flex; flex-direction: column; font-weight: 600; font-size: 12.5px; gap: .15rem; }
.timeline-range input { font-weight: 400; padding: .25rem .4rem; border: 1px solid var(--line); border-radius: 4px; max-width: 100%; }
@media (max-width: 760px) {
  header.top { padding: .5rem .6rem; gap: .4rem .75rem; }
  header.top form.search { order: 3; flex: 1 1 100%; max-width: none; margin-left: 0; }
  header.top form.logout { margin-left: auto; }
  table { display: block; overflow-x: auto; max-width: 100%; }
  .cards { grid-template-columns: minmax(0, 1fr); }
  dl.facts { grid-template-columns: minmax(0, max-content) minmax(0, 1fr); }
  dl.facts dd { overflow-wrap: anywhere; min-width: 0; }
  .list-filters label, .list-filters input[type=text], .list-filters input, .list-filters select { width: 100%; }
  h1 { overflow-wrap: anywhere; }
}
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
`;

/** A plain icon, so browsers do not ask for /favicon.ico (outside the dashboard). */
export const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#16202e"/><path d="M3 11h3l2-6 2 6h3" fill="none" stroke="#56B4E9" stroke-width="1.6"/></svg>`;
