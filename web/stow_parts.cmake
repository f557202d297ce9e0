# STOW-RS, the multipart/related parser and /rendered (issue 12): sources
# of pacs::web (web/CMakeLists.txt), with the libraries they need.
# libjpeg-turbo and libpng (Debian: libjpeg62-turbo-dev, libpng-dev) encode
# the rendered pictures.
find_package(nlohmann_json 3.10 REQUIRED)
pkg_check_modules(PNG REQUIRED IMPORTED_TARGET libpng)
pkg_check_modules(JPEG REQUIRED IMPORTED_TARGET libjpeg)
target_sources(pacs_web PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/src/multipart.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/render.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/stow_transaction.cpp
)
target_include_directories(pacs_web PRIVATE ${CMAKE_CURRENT_LIST_DIR}/src)
target_link_libraries(pacs_web PRIVATE PkgConfig::PNG PkgConfig::JPEG nlohmann_json::nlohmann_json)

if(PACS_BUILD_TESTS)
  include(${CMAKE_CURRENT_LIST_DIR}/../tests/web/stow_tests.cmake)
endif()
