# Build information baked into lib/core (reported by --version and in /provenance).
execute_process(COMMAND git -C ${CMAKE_SOURCE_DIR} rev-parse --short=12 HEAD
                OUTPUT_VARIABLE EFFINFER_GIT_COMMIT OUTPUT_STRIP_TRAILING_WHITESPACE
                ERROR_QUIET)
if(NOT EFFINFER_GIT_COMMIT)
  set(EFFINFER_GIT_COMMIT "unknown")
endif()
string(TOUPPER "${CMAKE_BUILD_TYPE}" _effinfer_bt)
set(EFFINFER_COMPILER "${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION}")
set(EFFINFER_CXX_FLAGS "${CMAKE_CXX_FLAGS} ${CMAKE_CXX_FLAGS_${_effinfer_bt}}")
if(EFFINFER_MARCH)
  string(APPEND EFFINFER_CXX_FLAGS " -march=${EFFINFER_MARCH}")
endif()
configure_file(${CMAKE_SOURCE_DIR}/lib/core/build_info.cpp.in
               ${CMAKE_BINARY_DIR}/generated/build_info.cpp @ONLY)
