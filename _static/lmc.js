// lmc-book: a display equation wider than its column is scaled down to fit (to at most half its
// size; below that it scrolls), after MathJax has typeset the page and whenever the window resizes.
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
  function start() {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      MathJax.startup.promise.then(fit);
    } else {
      setTimeout(start, 100);
    }
  }
  window.addEventListener('load', start);
  window.addEventListener('resize', fit);
})();
