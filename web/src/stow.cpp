// STOW-RS (POST /studies, /studies/{study}): the webstow helper's part of
// issue 12. Until it lands, the server registers no STOW route and such a
// POST is answered 405 (GET exists on the path).
#include "pacs/web/dicomweb.h"

namespace pacs::web {

void RegisterStowRoutes(Router& router, DicomWebContext& context) {}

}  // namespace pacs::web
