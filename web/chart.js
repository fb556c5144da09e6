/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Small time-series line charts on <canvas>: no library to ship.
 * PBChart.draw(canvas, series, opts): series = [{label, color, points: [[t_ms, v], ...]}],
 * opts = {windowMs, format(v) -> string, now}.
 */
"use strict";

const PBChart = (() => {
  const COLORS = ["#58a6ff", "#3fb950", "#d29922", "#f778ba", "#a371f7", "#79c0ff", "#ffa657"];

  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  function draw(canvas, series, opts) {
    const dpr = window.devicePixelRatio || 1;
    const cssW = canvas.clientWidth || 600;
    const cssH = canvas.clientHeight || Number(canvas.getAttribute("height")) || 160;
    if (canvas.width !== Math.round(cssW * dpr) || canvas.height !== Math.round(cssH * dpr)) {
      canvas.width = Math.round(cssW * dpr);
      canvas.height = Math.round(cssH * dpr);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, cssW, cssH);
    const fmt = opts.format || ((v) => String(Math.round(v)));
    const now = opts.now || Date.now();
    const t0 = now - opts.windowMs;
    const left = 56, right = 8, top = 8, bottom = 20;
    const w = cssW - left - right, h = cssH - top - bottom;
    let max = 0;
    for (const s of series)
      for (const [t, v] of s.points) if (t >= t0 && v > max) max = v;
    max = niceMax(max);

    ctx.font = "11px system-ui, sans-serif";
    ctx.strokeStyle = "#30363d";
    ctx.fillStyle = "#9da7b3";
    ctx.lineWidth = 1;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (let i = 0; i <= 4; i++) {
      const y = top + h - (h * i) / 4;
      ctx.beginPath();
      ctx.moveTo(left, y + 0.5);
      ctx.lineTo(left + w, y + 0.5);
      ctx.stroke();
      ctx.fillText(fmt((max * i) / 4), left - 4, y);
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (let m = 0; m <= opts.windowMs / 60000; m += 5) {
      const x = left + w - (w * m * 60000) / opts.windowMs;
      ctx.textAlign = m === 0 ? "right" : "center";
      ctx.fillText(m === 0 ? "now" : "-" + m + " min", x, top + h + 4);
    }

    series.forEach((s, i) => {
      const pts = s.points.filter(([t]) => t >= t0);
      ctx.strokeStyle = s.color || COLORS[i % COLORS.length];
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      let prev = null;
      for (const [t, v] of pts) {
        const x = left + ((t - t0) / opts.windowMs) * w;
        const y = top + h - (Math.min(v, max) / max) * h;
        /* A hole of more than 10 s (API unreachable) is not drawn as a line. */
        if (prev === null || t - prev > 10000) ctx.moveTo(x, y);
        else ctx.lineTo(x, y);
        prev = t;
      }
      ctx.stroke();
    });

    /* Legend, top left inside the plot. */
    ctx.textAlign = "left";
    ctx.textBaseline = "top";
    let lx = left + 6;
    series.forEach((s, i) => {
      ctx.fillStyle = s.color || COLORS[i % COLORS.length];
      ctx.fillRect(lx, top + 4, 10, 3);
      ctx.fillStyle = "#e6edf3";
      ctx.fillText(s.label, lx + 14, top);
      lx += 24 + ctx.measureText(s.label).width;
    });
    if (series.length === 0) {
      ctx.fillStyle = "#9da7b3";
      ctx.textAlign = "center";
      ctx.fillText("no data", left + w / 2, top + h / 2);
    }
  }

  return { draw, COLORS };
})();
