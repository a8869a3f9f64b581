# cmake -DIN=page.html -DOUT=board_page.c -P embed.cmake : the page as a C byte array (no tool but CMake).
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" n)
math(EXPR len "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x..,){24})" "\\1\n" bytes "${bytes}")
file(WRITE "${OUT}" "/* generated from board/page.html by board/embed.cmake: do not edit */\n#include \"board_http.h\"\n\nconst unsigned char board_page_html[] = {\n${bytes}0x00};\nconst unsigned long board_page_html_len = ${len}ul;\n")
