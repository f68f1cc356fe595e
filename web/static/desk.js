// syndicate review desk: small progressive enhancements. Everything works without this file.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // preview tabs (desktop / phone / plain text)
  document.querySelectorAll(".tabs").forEach(function (tabs) {
    var buttons = Array.prototype.slice.call(tabs.querySelectorAll("[role=tab]"));
    function show(target) {
      buttons.forEach(function (b) {
        var on = b === target;
        b.setAttribute("aria-selected", on ? "true" : "false");
        b.tabIndex = on ? 0 : -1;
        var panel = document.getElementById(b.dataset.tab);
        if (panel) { panel.hidden = !on; }
      });
    }
    buttons.forEach(function (b, i) {
      b.addEventListener("click", function () { show(b); });
      b.addEventListener("keydown", function (e) {
        if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
          var next = buttons[(i + (e.key === "ArrowRight" ? 1 : buttons.length - 1)) % buttons.length];
          show(next); next.focus(); e.preventDefault();
        }
      });
    });
    if (buttons.length) { show(buttons[0]); }
  });

  // reorder items with up/down buttons (they rewrite the position fields the server reads)
  document.querySelectorAll("[data-reorder]").forEach(function (list) {
    function renumber() {
      Array.prototype.forEach.call(list.children, function (li, i) {
        var input = li.querySelector(".pos input"); if (input) { input.value = i + 1; }
      });
    }
    Array.prototype.forEach.call(list.children, function (li) {
      var title = (li.querySelector(".item-title a") || {}).textContent || "item";
      var box = document.createElement("span"); box.className = "move";
      [["↑", "Move up", -1], ["↓", "Move down", 1]].forEach(function (spec) {
        var b = document.createElement("button"); b.type = "button"; b.textContent = spec[0];
        b.setAttribute("aria-label", spec[1] + ": " + title);
        b.addEventListener("click", function () {
          if (spec[2] < 0 && li.previousElementSibling) { list.insertBefore(li, li.previousElementSibling); }
          if (spec[2] > 0 && li.nextElementSibling) { list.insertBefore(li.nextElementSibling, li); }
          renumber(); b.focus();
        });
        box.appendChild(b);
      });
      li.appendChild(box);
      var remove = li.querySelector(".remove input");
      if (remove) { remove.addEventListener("change", function () { li.classList.toggle("removed", remove.checked); }); }
    });
  });

  // ask before destructive actions
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (e) { if (!window.confirm(form.dataset.confirm)) { e.preventDefault(); } });
  });

  // live length of each post, counted on the server the way the network counts it
  document.querySelectorAll("textarea[data-network]").forEach(function (area) {
    var out = document.getElementById(area.dataset.counter); if (!out) { return; }
    var timer = null, seq = 0;
    area.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var mine = ++seq;
        var url = "/desk/api/count?network=" + encodeURIComponent(area.dataset.network) + "&text=" + encodeURIComponent(area.value);
        fetch(url, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.json() : null; }).then(function (data) {
          if (!data || mine !== seq) { return; }
          out.querySelector(".n").textContent = data.length;
          out.classList.toggle("over", data.over);
          var by = out.querySelector(".by"); if (by) { by.textContent = data.over ? " (" + data.why + ")" : ""; }
          var cost = out.querySelector(".post-cost"); if (cost && data.cost) { cost.textContent = "$" + data.cost; }
        });
      }, 200);
    });
  });

  // drag a post onto a free posting slot: fills in and submits that post's "Move to a slot" form
  // (the form under each post does the same without JavaScript)
  document.querySelectorAll(".slot-board").forEach(function (board) {
    var dragged = null;
    function clear() { board.querySelectorAll(".drop-ok").forEach(function (s) { s.classList.remove("drop-ok"); }); }
    board.querySelectorAll(".slot-post[data-movable]").forEach(function (chip) {
      chip.setAttribute("draggable", "true");
      chip.addEventListener("dragstart", function (e) {
        dragged = chip; chip.classList.add("dragging");
        e.dataTransfer.effectAllowed = "move";
        e.dataTransfer.setData("text/plain", chip.dataset.thread);
      });
      chip.addEventListener("dragend", function () { chip.classList.remove("dragging"); dragged = null; clear(); });
    });
    board.querySelectorAll(".slot-free").forEach(function (slot) {
      slot.addEventListener("dragover", function (e) {
        if (dragged && dragged.dataset.network === slot.dataset.network) { e.preventDefault(); slot.classList.add("drop-ok"); }
      });
      slot.addEventListener("dragleave", function () { slot.classList.remove("drop-ok"); });
      slot.addEventListener("drop", function (e) {
        e.preventDefault(); clear();
        var chip = dragged; if (!chip) { return; }
        var form = document.querySelector('form[data-move-thread="' + chip.dataset.thread + '"]');
        var select = form && form.querySelector("select[name=to]"); if (!select) { return; }
        var option = Array.prototype.find.call(select.options, function (o) { return o.value === slot.dataset.slot; });
        if (!option) { option = new Option(slot.querySelector(".slot-time").textContent, slot.dataset.slot); select.add(option); }
        select.value = slot.dataset.slot;
        slot.classList.add("dropping");
        form.submit();
      });
    });
  });
})();
