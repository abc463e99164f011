# Builds and runs tests/consumer against tapegrad, one way per call (cmake -P, one ctest test each):
#   MODE=find_package      cmake --install the current build into WORK_DIR/prefix (emptied first),
#                          then the consumer finds it with CMAKE_PREFIX_PATH, and main.cpp is also
#                          built with nothing but `pkg-config --cflags --libs tapegrad`;
#   MODE=add_subdirectory  the consumer add_subdirectory()s the source tree, which rebuilds the
#                          library inside the consumer's build dir.
# Required: -DMODE= -DSOURCE_DIR= (tapegrad sources) -DWORK_DIR= (scratch dir in the build tree)
#           -DBUILD_TYPE= -DNATIVE= ; for find_package also -DBINARY_DIR= (the build to install).
# Optional: -DGENERATOR= -DCXX_COMPILER= so the nested build matches the outer one.
cmake_minimum_required(VERSION 3.25)

foreach(required MODE SOURCE_DIR WORK_DIR BUILD_TYPE NATIVE)
  if(NOT DEFINED ${required} OR "${${required}}" STREQUAL "")
    message(FATAL_ERROR "run_consumer_test.cmake: -D${required}= is required")
  endif()
endforeach()

function(run step)
  message(STATUS "[consumer ${MODE}] ${step}: ${ARGN}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "[consumer ${MODE}] ${step} failed (${result})")
  endif()
endfunction()

set(consumer_build ${WORK_DIR}/build)
set(configure_args
  -S ${SOURCE_DIR}/tests/consumer -B ${consumer_build}
  --fresh  # a clean cache every run; object files are kept, so an unchanged library is not rebuilt
  -DCMAKE_BUILD_TYPE=${BUILD_TYPE}
  -DTAPEGRAD_CONSUMER_MODE=${MODE})
if(GENERATOR)
  list(APPEND configure_args -G ${GENERATOR})
endif()
if(CXX_COMPILER)
  list(APPEND configure_args -DCMAKE_CXX_COMPILER=${CXX_COMPILER})
endif()

if(MODE STREQUAL "find_package")
  if(NOT BINARY_DIR)
    message(FATAL_ERROR "run_consumer_test.cmake: find_package mode needs -DBINARY_DIR=")
  endif()
  set(prefix ${WORK_DIR}/prefix)
  file(REMOVE_RECURSE ${prefix})  # no headers left over from an earlier install
  run(install ${CMAKE_COMMAND} --install ${BINARY_DIR} --config ${BUILD_TYPE} --prefix ${prefix})
  list(APPEND configure_args -DCMAKE_PREFIX_PATH=${prefix}
    # only the fresh install may satisfy find_package, never another copy
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DTAPEGRAD_EXPECTED_PREFIX=${prefix})
elseif(MODE STREQUAL "add_subdirectory")
  list(APPEND configure_args -DTAPEGRAD_SOURCE_DIR=${SOURCE_DIR} -DTAPEGRAD_NATIVE=${NATIVE})
else()
  message(FATAL_ERROR "run_consumer_test.cmake: MODE must be find_package or add_subdirectory")
endif()

run(configure ${CMAKE_COMMAND} ${configure_args})
run(build ${CMAKE_COMMAND} --build ${consumer_build} --config ${BUILD_TYPE} -j2)
find_program(consumer_exe consumer PATHS ${consumer_build} ${consumer_build}/${BUILD_TYPE}
             NO_DEFAULT_PATH NO_CACHE REQUIRED)
run(run ${consumer_exe})

# The same program built from the installed package with pkg-config alone (no CMake package).
if(MODE STREQUAL "find_package")
  find_program(pkg_config pkg-config REQUIRED)
  file(GLOB pc_files ${prefix}/lib*/pkgconfig/tapegrad.pc ${prefix}/lib/*/pkgconfig/tapegrad.pc)
  if(NOT pc_files)
    message(FATAL_ERROR "[consumer ${MODE}] no tapegrad.pc installed under ${prefix}")
  endif()
  list(GET pc_files 0 pc_file)
  get_filename_component(pc_dir ${pc_file} DIRECTORY)
  execute_process(COMMAND ${CMAKE_COMMAND} -E env PKG_CONFIG_PATH=${pc_dir}
                          ${pkg_config} --cflags --libs tapegrad
                  OUTPUT_VARIABLE pc_flags OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE pc_result)
  if(NOT pc_result EQUAL 0)
    message(FATAL_ERROR "[consumer ${MODE}] pkg-config --cflags --libs tapegrad failed (${pc_result})")
  endif()
  message(STATUS "[consumer ${MODE}] pkg-config: ${pc_flags}")
  separate_arguments(pc_args UNIX_COMMAND "${pc_flags}")
  if(CXX_COMPILER)
    set(compiler ${CXX_COMPILER})
  else()
    find_program(compiler c++ REQUIRED)
  endif()
  set(pc_exe ${WORK_DIR}/consumer_pkg_config)
  run(pkg-config-build ${compiler} -O1 -Wall -Wextra -Werror ${SOURCE_DIR}/tests/consumer/main.cpp
      ${pc_args} -o ${pc_exe})
  run(pkg-config-run ${pc_exe})
endif()
