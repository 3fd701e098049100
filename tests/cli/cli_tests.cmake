# Registers every tests/cli/<tool>/<case>/ folder (one holding `cmd`) as a ctest, plus the
# man-page lint. Exit 77 from run_case.sh means skipped (reference data absent).
file(GLOB cli_case_files CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/cli/*/*/cmd)
foreach(cmd_file ${cli_case_files})
  get_filename_component(case_dir ${cmd_file} DIRECTORY)
  get_filename_component(case_name ${case_dir} NAME)
  get_filename_component(tool_dir ${case_dir} DIRECTORY)
  get_filename_component(tool_name ${tool_dir} NAME)
  add_test(NAME cli.${tool_name}.${case_name}
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/run_case.sh ${CMAKE_BINARY_DIR}/bin
                   ${case_dir} ${CMAKE_SOURCE_DIR})
  set_tests_properties(cli.${tool_name}.${case_name} PROPERTIES SKIP_RETURN_CODE 77)
endforeach()
if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/cli/check_man.sh)
  add_test(NAME man.lint COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/check_man.sh
           ${CMAKE_BINARY_DIR}/bin ${CMAKE_SOURCE_DIR})
endif()
foreach(check invariance rat plot)
  add_test(NAME cli.psytrack-fit.check_${check}
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/psytrack_checks.sh ${CMAKE_BINARY_DIR}/bin
                   ${CMAKE_SOURCE_DIR} ${check})
endforeach()
foreach(check invariance outputs)
  add_test(NAME cli.mrf-cccp.check_${check}
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/mrf_checks.sh ${CMAKE_BINARY_DIR}/bin
                   ${CMAKE_SOURCE_DIR} ${check})
endforeach()
add_test(NAME cli.mrf-cccp.check_csdp
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/mrf_csdp.sh ${CMAKE_BINARY_DIR}/bin)
set_tests_properties(cli.mrf-cccp.check_csdp PROPERTIES SKIP_RETURN_CODE 77 LABELS csdp)
foreach(check determinism agreement synth)
  add_test(NAME cli.quantize-climbq.check_${check}
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/climbq_checks.sh ${CMAKE_BINARY_DIR}/bin
                   ${check})
  set_tests_properties(cli.quantize-climbq.check_${check} PROPERTIES SKIP_RETURN_CODE 77)
endforeach()
