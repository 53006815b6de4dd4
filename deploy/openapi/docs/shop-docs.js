// Starts Swagger UI on the gateway's merged document. A separate file (not
// an inline script) so the page works under a strict Content-Security-Policy.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/api/v1/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    // Swagger UI would otherwise send the document to validator.swagger.io
    // for a badge: nothing leaves this origin.
    validatorUrl: null,
    // Keep a pasted bearer token across reloads while trying requests out.
    persistAuthorization: true,
    tryItOutEnabled: false,
  });
});
