// Reports page: the figures and charts are rendered by the server (the page works
// without this script); this only adds quick date ranges next to the form.
'use strict';
(function () {
  const form = document.getElementById('report-range');
  const spot = document.getElementById('report-presets');
  if (!form || !spot) return;
  const day = (d) => d.getFullYear() + '-' + String(d.getMonth() + 1).padStart(2, '0') + '-' + String(d.getDate()).padStart(2, '0');
  const presets = [
    ['Last 7 days', () => { const t = new Date(); const f = new Date(t); f.setDate(t.getDate() - 6); return [f, t]; }],
    ['Last 30 days', () => { const t = new Date(); const f = new Date(t); f.setDate(t.getDate() - 29); return [f, t]; }],
    ['This month', () => { const t = new Date(); return [new Date(t.getFullYear(), t.getMonth(), 1), t]; }],
    ['Last month', () => { const t = new Date(); return [new Date(t.getFullYear(), t.getMonth() - 1, 1), new Date(t.getFullYear(), t.getMonth(), 0)]; }],
  ];
  for (const [label, range] of presets) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'btn btn-ghost btn-xs';
    b.textContent = label;
    b.addEventListener('click', () => {
      const [f, t] = range();
      form.elements.from.value = day(f);
      form.elements.to.value = day(t);
      form.submit();
    });
    spot.appendChild(b);
  }
})();
