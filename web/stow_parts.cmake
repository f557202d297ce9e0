# STOW-RS, the multipart/related parser and /rendered (issue 12), built as
# their own library so that they can be unit-tested apart from the HTTP
# server; pacs::web links it and registers their routes.
pkg_check_modules(PNG REQUIRED IMPORTED_TARGET libpng)
pkg_check_modules(JPEG REQUIRED IMPORTED_TARGET libjpeg)
find_package(nlohmann_json 3.10 REQUIRED)
add_library(pacs_web_stow STATIC
  ${CMAKE_CURRENT_LIST_DIR}/src/multipart.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/stow_transaction.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/render.cpp
)
target_include_directories(pacs_web_stow PUBLIC ${CMAKE_CURRENT_LIST_DIR}/src)
target_link_libraries(pacs_web_stow PUBLIC pacs::dicom PRIVATE PkgConfig::PNG PkgConfig::JPEG nlohmann_json::nlohmann_json)
pacs_target_defaults(pacs_web_stow)

if(PACS_BUILD_TESTS)
  include(${CMAKE_CURRENT_LIST_DIR}/../tests/web/stow_tests.cmake)
endif()
