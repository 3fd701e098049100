# effinfer_add_tool(<name>): tools/<name>/*.cpp except main.cpp become the static library
# <name>_core (what unit tests link); main.cpp becomes the executable bin/<name>.
function(effinfer_add_tool name)
  set(dir ${CMAKE_CURRENT_SOURCE_DIR})
  file(GLOB core_sources CONFIGURE_DEPENDS ${dir}/*.cpp)
  list(REMOVE_ITEM core_sources ${dir}/main.cpp)
  string(REPLACE "-" "_" core ${name})
  add_library(${core}_core STATIC ${core_sources})
  target_include_directories(${core}_core PUBLIC ${dir})
  target_link_libraries(${core}_core PUBLIC effinfer::effinfer)
  add_executable(${name} ${dir}/main.cpp)
  target_link_libraries(${name} PRIVATE ${core}_core)
  install(TARGETS ${name} RUNTIME DESTINATION bin)
endfunction()
