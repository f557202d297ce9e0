# Tests of web/stow_parts.cmake's library (included from there).
pacs_add_test(multipart_test ${CMAKE_CURRENT_LIST_DIR}/multipart_test.cpp)
target_link_libraries(multipart_test PRIVATE pacs_web_stow)
pkg_check_modules(PNG REQUIRED IMPORTED_TARGET libpng)
pkg_check_modules(JPEG REQUIRED IMPORTED_TARGET libjpeg)
pacs_add_test(render_test ${CMAKE_CURRENT_LIST_DIR}/render_test.cpp)
target_link_libraries(render_test PRIVATE pacs_web_stow PkgConfig::PNG PkgConfig::JPEG)
