// Starts Swagger UI on /docs (a file, not an inline script, so the page's CSP can forbid those).
window.addEventListener("DOMContentLoaded", function () {
  var target = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({ url: target.dataset.spec, dom_id: "#swagger-ui", deepLinking: true });
});
