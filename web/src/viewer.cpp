// The static OHIF viewer on the web port (serve --viewer DIR): its files at
// the root of the origin (OHIF's index.html names /app-config.js,
// /app.bundle.*.js and /assets/... absolutely), index.html for its
// client-side routes (/viewer?StudyInstanceUIDs=...), and an app-config.js
// whose DICOMweb data source is this server, on the same origin.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "pacs/base/log.h"
#include "pacs/web/dicomweb.h"

namespace pacs::web {

namespace fs = std::filesystem;

namespace {

std::string MimeTypeOf(const fs::path& path) {
  static const std::pair<const char*, const char*> kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".wasm", "application/wasm"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},
      {".gif", "image/gif"},
      {".ico", "image/x-icon"},
      {".webp", "image/webp"},
      {".woff", "font/woff"},
      {".woff2", "font/woff2"},
      {".ttf", "font/ttf"},
      {".otf", "font/otf"},
      {".eot", "application/vnd.ms-fontobject"},
      {".txt", "text/plain; charset=utf-8"},
      {".xml", "application/xml"},
      {".webmanifest", "application/manifest+json"},
      {".pdf", "application/pdf"},
  };
  const std::string extension = ToLower(path.extension().string());
  for (const auto& [ext, type] : kTypes)
    if (extension == ext) return type;
  return "application/octet-stream";
}

// Cross-origin isolation, which OHIF's multi-threaded decoders
// (SharedArrayBuffer) need; harmless for the rest.
Response& Isolated(Response& response) {
  response.With("Cross-Origin-Opener-Policy", "same-origin");
  response.With("Cross-Origin-Embedder-Policy", "require-corp");
  response.With("Cross-Origin-Resource-Policy", "same-origin");
  response.With("X-Content-Type-Options", "nosniff");
  return response;
}

// The data source, appended to the shipped app-config.js (which sets
// window.config) so that everything else it configures stays as shipped.
// The token, when the server needs one, comes from the page's fragment
// (#pacscore-token=...; never sent to a server) into sessionStorage.
std::string DataSourceScript(const std::string& root) {
  return R"JS(
// --- added by pacscore serve --viewer: this server's DICOMweb as the only data source ---
(function () {
  var match = /[#&]pacscore-token=([^&]+)/.exec(window.location.hash || '');
  if (match) {
    try { window.sessionStorage.setItem('pacscore-token', decodeURIComponent(match[1])); } catch (e) {}
  }
  var token = null;
  try { token = window.sessionStorage.getItem('pacscore-token'); } catch (e) {}
  var root = window.location.origin + ')JS" +
         root + R"JS(';
  window.config = window.config || {};
  window.config.routerBasename = null;
  window.config.showStudyList = true;
  window.config.showWarningMessageForCrossOrigin = false;
  window.config.defaultDataSourceName = 'pacscore';
  window.config.dataSources = [{
    namespace: '@ohif/extension-default.dataSourcesModule.dicomweb',
    sourceName: 'pacscore',
    configuration: {
      friendlyName: 'pacscore',
      name: 'pacscore',
      qidoRoot: root,
      wadoRoot: root,
      wadoUriRoot: root,
      imageRendering: 'wadors',
      thumbnailRendering: 'wadors',
      enableStudyLazyLoad: true,
      qidoSupportsIncludeField: false,
      supportsFuzzyMatching: false,
      supportsWildcard: true,
      supportsReject: false,
      omitQuotationForMultipartRequest: true,
      bulkDataURI: { enabled: true },
      requestOptions: token ? { auth: function () { return 'Bearer ' + token; } } : {},
    },
  }];
})();
)JS";
}

}  // namespace

Status RegisterViewerRoutes(Router& router, const ViewerOptions& options, DicomWebContext& context) {
  std::error_code ec;
  const fs::path directory = fs::canonical(options.directory, ec);
  if (ec) return Status::NotFound("--viewer " + options.directory + ": " + ec.message());
  if (!fs::is_regular_file(directory / "index.html"))
    return Status::NotFound("--viewer " + options.directory +
                            " holds no index.html (give the viewer's built dist/ folder)");
  std::string shipped_config;
  if (std::ifstream in(directory / "app-config.js", std::ios::binary); in) {
    std::ostringstream text;
    text << in.rdbuf();
    shipped_config = text.str();
  }
  auto config = std::make_shared<const std::string>(shipped_config + DataSourceScript(context.options().root));
  const RouteOptions public_files{.role = TokenRole::kRead, .needs_token = false};

  router.Add(
      "GET", "/app-config.js",
      [config](const Request&) {
        Response response = Response::Text(200, "text/javascript; charset=utf-8", *config);
        response.With("Cache-Control", "no-cache");
        return Isolated(response);
      },
      public_files);

  const std::string root = context.options().root;
  router.Add(
      "GET", "/{path*}",
      [directory, root](const Request& request) {
        const std::string& relative = request.Param("path");
        if (request.path == root || request.path.rfind(root + "/", 0) == 0)
          return Response::Error(404, "no such DICOMweb resource: " + request.path);
        fs::path file = directory / relative;
        std::error_code file_ec;
        const fs::path resolved = fs::canonical(file, file_ec);
        const bool inside = !file_ec && resolved.string().rfind(directory.string() + "/", 0) == 0;
        if (relative.empty() || (!file_ec && fs::is_directory(resolved))) {
          file = directory / "index.html";
        } else if (file_ec || !inside || !fs::is_regular_file(resolved)) {
          // A client-side route of the viewer (no extension): its index.html.
          if (!fs::path(relative).has_extension()) {
            file = directory / "index.html";
          } else {
            return Response::Error(404, "no such file: " + request.path);
          }
        } else {
          file = resolved;
        }
        Response response;
        response.content_type = MimeTypeOf(file);
        response.file_path = file.string();
        response.With("Cache-Control", file.filename() == "index.html" ? "no-cache" : "public, max-age=3600");
        return Isolated(response);
      },
      public_files);
  LogInfo("viewer: serving " + directory.string() + " at / with DICOMweb at " + root);
  return Status::Ok();
}

}  // namespace pacs::web
