# effinfer_add_tool(<name>): tools/<name>/*.cpp except main.cpp become the static library
# <name>_core (what unit tests link); main.cpp becomes the executable bin/<name>.
# configs/<name>/default.yaml is embedded as <name_with_underscores>_default_config_yaml().
function(effinfer_add_tool name)
  set(dir ${CMAKE_CURRENT_SOURCE_DIR})
  file(GLOB core_sources CONFIGURE_DEPENDS ${dir}/*.cpp)
  list(REMOVE_ITEM core_sources ${dir}/main.cpp)
  string(REPLACE "-" "_" core ${name})
  set(yaml ${CMAKE_SOURCE_DIR}/configs/${name}/default.yaml)
  if(EXISTS ${yaml})
    file(READ ${yaml} EFFINFER_DEFAULT_YAML)
    set(EFFINFER_CONFIG_FUNCTION ${core}_default_config_yaml)
    set(generated ${CMAKE_BINARY_DIR}/generated/${core}_default_config.cpp)
    file(CONFIGURE OUTPUT ${generated} CONTENT
         "// Generated from configs/${name}/default.yaml by cmake/EffinferTool.cmake.\nconst char* @EFFINFER_CONFIG_FUNCTION@() {\n  return R\"effinfer_yaml(@EFFINFER_DEFAULT_YAML@)effinfer_yaml\";\n}\n"
         @ONLY)
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${yaml})
    list(APPEND core_sources ${generated})
  endif()
  add_library(${core}_core STATIC ${core_sources})
  target_include_directories(${core}_core PUBLIC ${dir})
  target_link_libraries(${core}_core PUBLIC effinfer::effinfer)
  # A tool still being built up (no main.cpp yet) contributes only its tested core library.
  if(EXISTS ${dir}/main.cpp)
    add_executable(${name} ${dir}/main.cpp)
    target_link_libraries(${name} PRIVATE ${core}_core)
    install(TARGETS ${name} RUNTIME DESTINATION bin)
  endif()
endfunction()
