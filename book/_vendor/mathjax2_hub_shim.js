/* Project code (not vendored), loaded before widgets/embed.js on pages with saved widget state.
 *
 * The ipywidgets embedder typesets widget labels with the MathJax 2 API,
 *   MathJax.Hub.Queue(["Typeset", MathJax.Hub, element]),
 * but the book loads MathJax 3, which has no Hub: each label threw "Cannot read properties of undefined
 * (reading 'Queue')" and stayed raw TeX. This maps that call onto MathJax 3's typesetPromise, rewriting the
 * Jupyter-style inline $...$ of the label to \(...\), the only inline delimiters Sphinx's MathJax 3 set-up reads.
 * MathJax 3 replaces window.MathJax when its deferred script runs, so the Hub is attached at DOMContentLoaded
 * (after deferred scripts, before the embedder renders on window "load"). Pages without maths load no MathJax;
 * the embedder then skips typesetting by itself.
 */
document.addEventListener("DOMContentLoaded", function () {
  var mathjax = window.MathJax;
  if (!mathjax || mathjax.Hub || !mathjax.startup) return;
  mathjax.Hub = {
    Queue: function () {
      Array.prototype.forEach.call(arguments, function (job) {
        var element = job[2];  // job = ["Typeset", MathJax.Hub, element]
        element.textContent = element.textContent.replace(/\$([^$]+)\$/g, "\\($1\\)");
        mathjax.startup.promise.then(function () { return mathjax.typesetPromise([element]); });
      });
    },
  };
});
