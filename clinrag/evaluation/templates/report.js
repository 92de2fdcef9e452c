(function () {
  "use strict";
  window.addEventListener("error", function (event) { document.body.dataset.error = String(event.message); });
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var cells = data.cells, documents = data.documents;
  var tbody = document.getElementById("cell-rows");
  var panel = document.getElementById("evidence-panel");
  var fVariable = document.getElementById("filter-variable");
  var fStatus = document.getElementById("filter-status");
  var fPatient = document.getElementById("filter-patient");
  var fErrors = document.getElementById("filter-errors");
  var counter = document.getElementById("cell-count");
  var STATUS = {documented: "documented", not_documented: "not documented", failed: "failed",
                no_provenance: "no provenance"};
  var rows = [];
  var selected = -1;

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }
  function valueNode(tag, value) {
    if (value === null || value === undefined) return el(tag, "—", "empty");
    if (value === "") return el(tag, "not documented", "empty");
    return el(tag, value);
  }

  data.variables.forEach(function (name) {
    var option = el("option", name);
    option.value = name;
    fVariable.appendChild(option);
  });

  var fragment = document.createDocumentFragment();
  cells.forEach(function (cell, i) {
    var tr = el("tr", null, "cell-row" + (cell.correct === true ? " ok" : cell.correct === false ? " bad" : ""));
    tr.dataset.index = String(i);
    tr.appendChild(el("td", cell.patient, "mono"));
    tr.appendChild(el("td", cell.variable, "mono"));
    tr.appendChild(valueNode("td", cell.predicted));
    tr.appendChild(valueNode("td", cell.gold));
    tr.appendChild(el("td", cell.correct === true ? "✓" : cell.correct === false ? "✗" : "", "verdict"));
    var status = el("td");
    status.appendChild(el("span", STATUS[cell.status] || cell.status, "badge " + cell.status));
    tr.appendChild(status);
    var ev = cell.evidence, doc = ev && ev.doc_id !== null ? documents[ev.doc_id] : null;
    var source = el("td", doc ? doc.doc_type + " " + doc.date.slice(0, 10) : (ev ? ev.doc_id || "" : ""),
                    "muted");
    if (doc) source.title = ev.doc_id;
    tr.appendChild(source);
    rows.push(tr);
    fragment.appendChild(tr);
  });
  tbody.appendChild(fragment);

  function renderPanel(cell) {
    panel.textContent = "";
    panel.appendChild(el("h3", cell.patient + " · " + cell.variable));
    var kv = el("dl", null, "kv");
    function add(key, node) { kv.appendChild(el("dt", key)); kv.appendChild(node); }
    add("type", el("dd", cell.type));
    add("predicted", valueNode("dd", cell.predicted));
    if (cell.gold !== null) {
      add("known", valueNode("dd", cell.gold));
      add("verdict", el("dd", cell.correct ? "correct" : "wrong", cell.correct ? "verdict-ok" : "verdict-bad"));
    }
    add("status", el("dd", STATUS[cell.status] || cell.status));
    if (cell.score !== null) add("score", el("dd", Number(cell.score).toFixed(4)));
    if (cell.answer !== null && cell.answer !== undefined && cell.answer !== "") add("raw answer", el("dd", cell.answer));
    if (cell.failure) add("failure", el("dd", cell.failure, "verdict-bad"));
    panel.appendChild(kv);
    var ev = cell.evidence;
    if (!ev) {
      panel.appendChild(el("p", "No supporting passage.", "muted"));
      return;
    }
    if (!data.with_text) {
      renderMasked(ev);
      return;
    }
    var doc = ev.in_document ? documents[ev.doc_id] : null;
    var meta = el("div", null, "doc-meta");
    meta.textContent = doc ? doc.doc_type + " · " + doc.date + " · " + ev.doc_id
                           : "document " + (ev.doc_id || "?") + (ev.date ? " · " + ev.date : "");
    var text = el("pre", null, "doc-text");
    var mark = el("mark", null);
    mark.id = "evidence-mark";
    if (doc && ev.u16_start !== undefined) {
      if (!ev.offsets_match) {
        panel.appendChild(el("p", "The quote stored in provenance differs from the document at these offsets.",
                             "warn-line"));
      }
      text.appendChild(document.createTextNode(doc.text.slice(0, ev.u16_start)));
      mark.textContent = doc.text.slice(ev.u16_start, ev.u16_end);
      text.appendChild(mark);
      text.appendChild(document.createTextNode(doc.text.slice(ev.u16_end)));
    } else {
      panel.appendChild(el("p", doc ? "Offsets outside the document: stored quote shown."
                                    : "Document not in the cohort: stored quote shown.", "warn-line"));
      mark.textContent = ev.quote || "";
      text.appendChild(mark);
    }
    panel.appendChild(meta);
    panel.appendChild(text);
    text.scrollTop = Math.max(0, mark.offsetTop - text.clientHeight / 3);
  }

  // A report without patient text: where the passage is, and its masked view (segments [kind, text] whose
  // text holds only mask characters, spaces, punctuation, registry terms and the cell's value).
  function renderMasked(ev) {
    var doc = ev.in_document ? documents[ev.doc_id] : null;
    var kv = el("dl", null, "kv");
    function add(key, value) { kv.appendChild(el("dt", key)); kv.appendChild(valueNode("dd", value)); }
    add("document", ev.doc_id);
    if (doc) add("type", doc.doc_type);
    add("date", doc ? doc.date : ev.date);
    add("section", ev.section === null || ev.section === undefined ? null : ev.section || "(before any title)");
    if (typeof ev.start === "number" && typeof ev.end === "number") {
      add("characters", ev.start + "–" + ev.end + " (" + (ev.end - ev.start) + " characters" +
          (doc ? " of " + doc.chars : "") + ")");
    }
    panel.appendChild(kv);
    if (!ev.in_document) {
      panel.appendChild(el("p", "Document not in the cohort: the stored quote, masked.", "warn-line"));
    } else if (!ev.offsets_match) {
      panel.appendChild(el("p", "The quote stored in provenance differs from the document at these offsets.",
                           "warn-line"));
    }
    if (!ev.masked) return;
    panel.appendChild(el("div", "masked passage", "doc-meta"));
    var text = el("pre", null, "doc-text masked");
    text.id = "masked-passage";
    ev.masked.forEach(function (segment) {
      text.appendChild(segment[0] ? el("span", segment[1], segment[0]) : document.createTextNode(segment[1]));
    });
    panel.appendChild(text);
    var legend = el("p", "• = a letter or digit of the note; shown: ", "legend");
    legend.appendChild(el("span", "registry term", "term"));
    legend.appendChild(document.createTextNode(" "));
    legend.appendChild(el("span", "the cell's value", "value"));
    legend.appendChild(document.createTextNode(". The text itself: --with-text."));
    panel.appendChild(legend);
  }

  function select(i) {
    if (i < 0 || i >= cells.length) return;
    if (selected >= 0) rows[selected].classList.remove("selected");
    selected = i;
    rows[i].classList.add("selected");
    document.body.dataset.selected = String(i);
    renderPanel(cells[i]);
  }

  function applyFilters() {
    var variable = fVariable.value, status = fStatus.value;
    var patient = fPatient.value.trim().toLowerCase(), errors = fErrors.checked;
    var shown = 0;
    cells.forEach(function (cell, i) {
      var visible = (!variable || cell.variable === variable) && (!status || cell.status === status) &&
        (!errors || cell.correct === false) && (!patient || cell.patient.toLowerCase().indexOf(patient) >= 0);
      rows[i].hidden = !visible;
      if (visible) shown += 1;
    });
    counter.textContent = shown + " of " + cells.length + " cells";
  }

  function step(direction) {
    for (var i = selected + direction; i >= 0 && i < rows.length; i += direction) {
      if (!rows[i].hidden) {
        select(i);
        rows[i].scrollIntoView({block: "nearest"});
        return;
      }
    }
  }

  tbody.addEventListener("click", function (event) {
    var tr = event.target.closest("tr");
    if (tr && tr.dataset.index !== undefined) select(Number(tr.dataset.index));
  });
  [fVariable, fStatus, fErrors].forEach(function (node) { node.addEventListener("change", applyFilters); });
  fPatient.addEventListener("input", applyFilters);
  document.addEventListener("keydown", function (event) {
    var tag = event.target.tagName;
    if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") return;
    if (event.key === "ArrowDown" || event.key === "j") { step(1); event.preventDefault(); }
    if (event.key === "ArrowUp" || event.key === "k") { step(-1); event.preventDefault(); }
  });

  applyFilters();
  // Open first a wrong cell that has a passage, else any cell with a passage, else the first cell.
  var first = -1;
  for (var i = 0; i < cells.length && first < 0; i++) if (cells[i].correct === false && cells[i].evidence) first = i;
  for (var j = 0; j < cells.length && first < 0; j++) if (cells[j].evidence) first = j;
  if (first < 0 && cells.length) first = 0;
  if (first >= 0) select(first);
  document.body.dataset.ready = "1";
})();
