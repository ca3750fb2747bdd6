// lmc-book: a display equation wider than its column is scaled down to fit (to at most half its
// size; below that it scrolls), after MathJax has typeset the page and whenever the window resizes.
// Below 720 px a table wider than its column (other than a Result table, which lmc.css stacks
// anyway) becomes one card per row, each cell labelled with its column's header (lmc.css:
// table.lmc-stacked), so nothing hides off the right edge of a phone.
(function () {
  function fit() {
    document.querySelectorAll('mjx-container[display="true"]').forEach(function (eq) {
      eq.style.fontSize = '';
      var room = eq.parentElement.clientWidth, need = eq.scrollWidth;
      if (room > 0 && need > room + 1) {
        eq.style.fontSize = Math.max(0.5, room / need * 0.98) * 100 + '%';
      }
    });
  }
  function label(table) {
    var heads = Array.prototype.map.call(table.querySelectorAll('thead th'), function (th) {
      return th.innerText.trim();
    });
    table.querySelectorAll('tbody tr').forEach(function (tr) {
      Array.prototype.forEach.call(tr.children, function (td, i) {
        if (heads[i]) td.setAttribute('data-label', heads[i]);
      });
    });
  }
  function stack() {
    document.querySelectorAll('article table, main table').forEach(function (table) {
      if (table.closest('.lmc-result')) return;
      table.classList.remove('lmc-stacked');
      if (window.innerWidth >= 720) return;
      var room = Math.min(table.clientWidth, table.parentElement.clientWidth);
      if (table.scrollWidth > room + 1) {
        label(table);
        table.classList.add('lmc-stacked');
      }
    });
  }
  function start() {
    stack();
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      MathJax.startup.promise.then(function () { stack(); fit(); });
    } else {
      setTimeout(start, 100);
    }
  }
  window.addEventListener('load', start);
  window.addEventListener('resize', function () { stack(); fit(); });
})();
