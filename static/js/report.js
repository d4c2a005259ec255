// mtr's rows as people read them: the table the text route prints at the end, laid
// out as mtr --report lays it out (webtrace/formats/mtr_report.py), for "Copy output"
// and the raw view. mtr's own records (--raw) stay behind "Protocol records".

const HOST_WIDTH = 25; // mtr --report's narrowest host column
const COLUMNS = ["Loss%", "Snt", "Last", "Avg", "Best", "Wrst", "StDev"];

// "AS64500 r2.example.net (192.0.2.1) [NL]", as much of it as is known.
function hostLabel(host) {
  let label = host.name ? `${host.name} (${host.address})` : host.address;
  if (host.asn) label = `AS${host.asn} ${label}`;
  if (host.country) label = `${label} [${host.country}]`;
  return label;
}

const right = (text, width) => String(text).padStart(width);
const fixed = (value) => right((value ?? 0).toFixed(1), 6);

// ``started``: a Date; ``server``: the name heading the table; ``cycles``: a continuous
// run's cycles so far, which its report says (null: an ordinary run's).
export function reportText(hops, server, started, cycles = null) {
  const rows = [...hops.values()].sort((a, b) => a.hop - b.hop);
  const labels = rows.map((row) => (row.hosts.length ? row.hosts.map(hostLabel) : ["???"]));
  const width = Math.max(HOST_WIDTH, ...labels.flat().map((label) => label.length));
  const head = `HOST: ${server.padEnd(width + 3)}${COLUMNS.map((c) => right(c, 6)).join("")}`;
  const out = ["", `Start: ${started.toISOString().slice(0, 19)}+0000`];
  if (cycles !== null) out.push(`Cycles: ${cycles}`);
  out.push(head.trimEnd());
  rows.forEach((row, i) => {
    const figures = `${right(row.loss_pct.toFixed(1), 5)}% ${right(row.sent, 5)}`
      + ["last_ms", "avg_ms", "best_ms", "worst_ms", "stdev_ms"].map((key) => fixed(row[key])).join("");
    out.push(`${right(row.hop, 3)}.|-- ${labels[i][0].padEnd(width)} ${figures}`);
    for (const name of labels[i].slice(1)) out.push(`    |-- ${name}`);
  });
  return out.join("\n");
}
