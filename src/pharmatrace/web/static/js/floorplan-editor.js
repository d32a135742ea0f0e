// The floor plan's editor (/monitoring/floor-plan/edit, TJ-6.5): an SVG preview of the table's rectangles.
// Drag a rectangle to move it, its bottom-right corner to resize it; both snap to the grid (10 units) and stay
// inside the plan (1000 × 600). The table's inputs stay what is saved: dragging writes into them, typing in them
// redraws. Rectangles that overlap are drawn in red, by the server's rule (sharing an edge is not overlapping);
// the server checks the plan again when it is saved. Without JavaScript the table alone is the editor.
// Served locally; nothing is loaded from outside (the plant network is air-gapped).
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var SIDES = ["x", "y", "w", "h"];
  var HANDLE = 14;
  var COLOURS = {
    room: ["#e4eef6", "#2b5d8a"],
    utility: ["#eef3ea", "#4f6b3a"],
    overlap: ["#f8d7d3", "#b3261e"],
  };

  var form = document.getElementById("floor-plan-editor");
  if (!form) return;
  var preview = form.querySelector("[data-testid=plan-preview]");
  var svg = preview.querySelector("svg");
  var status = preview.querySelector("[data-testid=plan-overlaps]");
  var width = Number(form.getAttribute("data-width")) || 1000;
  var height = Number(form.getAttribute("data-height")) || 600;
  var grid = Number(form.getAttribute("data-grid")) || 10;
  var least = Number(form.getAttribute("data-min")) || 20;
  var overlapText = form.getAttribute("data-overlap-text") || "";
  var rows = Array.prototype.slice.call(form.querySelectorAll("tr[data-row]"));
  var shapes = {}; // row key ("room.RM-FILL", "utility.wfi") → its drawing
  var drag = null;

  function make(tag, attrs) {
    var node = document.createElementNS(NS, tag);
    set(node, attrs);
    return node;
  }

  function set(node, attrs) {
    Object.keys(attrs).forEach(function (name) { node.setAttribute(name, String(attrs[name])); });
  }

  function input(row, side) {
    return row.querySelector("input[data-side=" + side + "]");
  }

  // The row's rectangle when all four inputs hold whole numbers; null (not drawn) otherwise.
  function read(row) {
    var box = {};
    for (var i = 0; i < SIDES.length; i++) {
      var text = input(row, SIDES[i]).value.trim();
      if (!/^-?\d+$/.test(text)) return null;
      box[SIDES[i]] = parseInt(text, 10);
    }
    return box;
  }

  function write(row, box) {
    SIDES.forEach(function (side) {
      var field = input(row, side);
      if (field.value !== String(box[side])) field.value = String(box[side]);
    });
  }

  function snap(value) { return Math.round(value / grid) * grid; }
  function clamp(value, low, high) { return Math.max(low, Math.min(high, value)); }

  // Sharing an edge is not overlapping: neighbouring rooms have a wall in common (environment.Rect.overlaps).
  function overlaps(a, b) {
    return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
  }

  function shape(row) {
    var key = row.getAttribute("data-row");
    var kind = key.split(".")[0];
    var g = make("g", { "data-testid": "preview-" + key.slice(kind.length + 1), "data-row": key });
    var drawn = {
      row: row,
      kind: kind,
      g: g,
      rect: make("rect", { rx: 3, "stroke-width": 1.5, style: "cursor: move" }),
      name: make("text", { "font-size": 14, "font-weight": 600, fill: "#1d2733", "pointer-events": "none" }),
      code: make("text", { "font-size": 12, fill: "#1d2733", "pointer-events": "none" }),
      handle: make("rect", { width: HANDLE, height: HANDLE, "data-handle": "", style: "cursor: nwse-resize" }),
    };
    g.appendChild(drawn.rect);
    g.appendChild(drawn.name);
    g.appendChild(drawn.code);
    g.appendChild(drawn.handle);
    svg.appendChild(g);
    return drawn;
  }

  function label(row) {
    var own = input(row, "label");
    return (own && own.value.trim()) || row.getAttribute("data-label") || row.getAttribute("data-row");
  }

  function draw() {
    var placed = [];
    rows.forEach(function (row) {
      var key = row.getAttribute("data-row");
      var box = read(row);
      var drawn = shapes[key];
      if (!box) {
        if (drawn) drawn.g.setAttribute("display", "none");
        return;
      }
      if (!drawn) drawn = shapes[key] = shape(row);
      drawn.g.removeAttribute("display");
      set(drawn.rect, { x: box.x, y: box.y, width: Math.max(box.w, 1), height: Math.max(box.h, 1) });
      set(drawn.name, { x: box.x + 8, y: box.y + 22 });
      drawn.name.textContent = label(row);
      set(drawn.code, { x: box.x + 8, y: box.y + 40 });
      drawn.code.textContent = drawn.kind === "room" ? key.slice(5) : "";
      set(drawn.handle, { x: box.x + box.w - HANDLE, y: box.y + box.h - HANDLE });
      placed.push({ key: key, box: box, drawn: drawn, name: label(row) });
    });
    var clash = {};
    var pairs = [];
    for (var i = 0; i < placed.length; i++) {
      for (var j = i + 1; j < placed.length; j++) {
        if (overlaps(placed[i].box, placed[j].box)) {
          clash[placed[i].key] = clash[placed[j].key] = true;
          pairs.push(placed[i].name + " / " + placed[j].name);
        }
      }
    }
    placed.forEach(function (p) {
      var red = clash[p.key] === true;
      var colours = COLOURS[red ? "overlap" : p.drawn.kind] || COLOURS.room;
      set(p.drawn.rect, { fill: colours[0], stroke: colours[1], "stroke-width": red ? 3 : 1.5 });
      set(p.drawn.handle, { fill: colours[1] });
      p.drawn.g.setAttribute("data-overlap", red ? "true" : "false");
    });
    status.textContent = pairs.length ? overlapText + ": " + pairs.join(", ") : "";
  }

  // Screen → plan coordinates (the SVG scales with the page).
  function point(event) {
    var p = svg.createSVGPoint();
    p.x = event.clientX;
    p.y = event.clientY;
    return p.matrixTransform(svg.getScreenCTM().inverse());
  }

  svg.addEventListener("pointerdown", function (event) {
    var g = event.target.closest ? event.target.closest("g[data-row]") : null;
    if (!g || event.button !== 0) return;
    var drawn = shapes[g.getAttribute("data-row")];
    var box = drawn && read(drawn.row);
    if (!box) return;
    drag = { row: drawn.row, from: point(event), box: box, resize: event.target.hasAttribute("data-handle") };
    svg.appendChild(g); // the one moved is drawn on top
    svg.setPointerCapture(event.pointerId);
    event.preventDefault();
  });

  svg.addEventListener("pointermove", function (event) {
    if (!drag) return;
    var at = point(event);
    var dx = at.x - drag.from.x;
    var dy = at.y - drag.from.y;
    var b = drag.box;
    var next = drag.resize
      ? { x: b.x, y: b.y, w: clamp(snap(b.w + dx), least, width - b.x), h: clamp(snap(b.h + dy), least, height - b.y) }
      : { x: clamp(snap(b.x + dx), 0, width - b.w), y: clamp(snap(b.y + dy), 0, height - b.h), w: b.w, h: b.h };
    write(drag.row, next);
    draw();
  });

  function stop(event) {
    if (!drag) return;
    drag = null;
    if (svg.hasPointerCapture(event.pointerId)) svg.releasePointerCapture(event.pointerId);
  }
  svg.addEventListener("pointerup", stop);
  svg.addEventListener("pointercancel", stop);

  form.addEventListener("input", function (event) {
    if (event.target.closest("tr[data-row]")) draw();
  });

  preview.hidden = false;
  draw();
})();
