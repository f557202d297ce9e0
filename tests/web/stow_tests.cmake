# Tests of web/stow_parts.cmake's library (included from there).
pacs_add_test(multipart_test ${CMAKE_CURRENT_LIST_DIR}/multipart_test.cpp)
target_link_libraries(multipart_test PRIVATE pacs_web_stow)
