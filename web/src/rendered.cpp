// WADO-RS rendered resources (/rendered, /thumbnail): the webstow helper's
// part of issue 12. Until it lands, no route: such requests are answered 404.
#include "pacs/web/dicomweb.h"

namespace pacs::web {

void RegisterRenderedRoutes(Router& router, DicomWebContext& context) {}

}  // namespace pacs::web
