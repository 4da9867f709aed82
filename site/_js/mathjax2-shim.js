// @jupyter-widgets/html-manager 1.x typesets widget labels with MathJax 2's
// MathJax.Hub.Queue(["Typeset", MathJax.Hub, el]); the site runs MathJax 3, which has no Hub.
// Loaded before the widget manager (site/_config.yml, nb_ipywidgets_js), this gives whatever
// window.MathJax holds (the config, then MathJax 3, which replaces it) a Hub whose Queue calls
// typesetPromise once MathJax has started.
(function () {
  function queue(cmd) {
    var el = cmd && cmd[2];
    var run = function () {
      var mj = window.MathJax;
      if (mj && mj.typesetPromise) {
        mj.typesetPromise(el ? [el] : undefined).catch(function (e) { console.warn(e); });
      }
    };
    var mj = window.MathJax;
    if (mj && mj.startup && mj.startup.promise) { mj.startup.promise.then(run); } else { run(); }
  }
  function addHub(obj) {
    if (obj && typeof obj === "object" && !obj.Hub) {
      Object.defineProperty(obj, "Hub", { value: { Queue: queue }, enumerable: false });
    }
  }
  var current = window.MathJax;
  addHub(current);
  Object.defineProperty(window, "MathJax", {
    configurable: true,
    get: function () { return current; },
    set: function (value) { current = value; addHub(value); },
  });
})();
