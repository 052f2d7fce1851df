// Two small SVG charts for the dashboard: lines over time and horizontal bars. They draw with
// attributes and classes only (no inline styles), so the page's Content-Security-Policy holds.

const NS = "http://www.w3.org/2000/svg";

function el(name, attrs = {}, text) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function niceMax(value) {
  if (value <= 5) return 5;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (step * magnitude >= value) return step * magnitude;
  }
  return 10 * magnitude;
}

/**
 * Lines over time. `labels`: x labels; `series`: [{name, values, cls}].
 * Returns an <svg> with a legend, axes and a <title> per point.
 */
export function lineChart(labels, series, { width = 640, height = 240 } = {}) {
  const pad = { left: 40, right: 24, top: 28, bottom: 34 };
  const w = width - pad.left - pad.right;
  const h = height - pad.top - pad.bottom;
  const max = niceMax(Math.max(1, ...series.flatMap((s) => s.values)));
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img" });
  const x = (i) => pad.left + (labels.length <= 1 ? w / 2 : (i * w) / (labels.length - 1));
  const y = (v) => pad.top + h - (v / max) * h;
  for (let k = 0; k <= 5; k++) {
    const v = (max * k) / 5;
    svg.append(el("line", { x1: pad.left, x2: pad.left + w, y1: y(v), y2: y(v), class: "grid-line" }));
    svg.append(el("text", { x: pad.left - 6, y: y(v) + 4, class: "axis-label end" }, String(Math.round(v))));
  }
  const every = Math.max(1, Math.ceil(labels.length / 8));
  labels.forEach((label, i) => {
    if (i % every === 0 || i === labels.length - 1) {
      svg.append(el("text", { x: x(i), y: height - 10, class: "axis-label middle" }, label));
    }
  });
  series.forEach((s, n) => {
    const points = s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    svg.append(el("polyline", { points, class: `series ${s.cls}` }));
    s.values.forEach((v, i) => {
      const dot = el("circle", { cx: x(i), cy: y(v), r: 3, class: `dot ${s.cls}` });
      dot.append(el("title", {}, `${labels[i]} ${s.name}: ${v}`));
      svg.append(dot);
    });
    const lx = pad.left + n * 120;
    svg.append(el("rect", { x: lx, y: 8, width: 12, height: 12, class: `swatch ${s.cls}` }));
    svg.append(el("text", { x: lx + 18, y: 18, class: "legend" }, s.name));
  });
  return svg;
}

/** Horizontal bars: [{label, value}], largest first as given. */
export function barChart(rows, { width = 640, barHeight = 22, cls = "bar" } = {}) {
  const pad = { left: 150, right: 40, top: 8, bottom: 8 };
  const height = pad.top + pad.bottom + Math.max(1, rows.length) * barHeight;
  const max = niceMax(Math.max(1, ...rows.map((r) => r.value)));
  const w = width - pad.left - pad.right;
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img" });
  rows.forEach((r, i) => {
    const top = pad.top + i * barHeight;
    svg.append(el("text", { x: pad.left - 8, y: top + barHeight / 2 + 4, class: "axis-label end" }, r.label));
    const bar = el("rect", {
      x: pad.left, y: top + 3, height: barHeight - 6,
      width: Math.max(r.value > 0 ? 2 : 0, (r.value / max) * w), class: cls,
    });
    bar.append(el("title", {}, `${r.label}: ${r.value}`));
    svg.append(bar);
    svg.append(el("text", { x: pad.left + (r.value / max) * w + 6, y: top + barHeight / 2 + 4, class: "axis-label" }, String(r.value)));
  });
  return svg;
}
