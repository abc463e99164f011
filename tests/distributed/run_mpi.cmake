# Runs an mpirun command line for ctest and checks how it ended:
#   cmake -DCOMMAND=<args separated by |> -DEXPECT=success|failure -DREGEX=<regex>
#         -DMAX_SECONDS=<n> -P run_mpi.cmake
# EXPECT is the exit status (failure: non-zero), REGEX must match stdout + stderr, and the job must
# end within MAX_SECONDS: a hang is killed then and fails the test.
string(REPLACE "|" ";" command "${COMMAND}")
string(TIMESTAMP started "%s")
execute_process(COMMAND ${command} RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err
                TIMEOUT ${MAX_SECONDS})
string(TIMESTAMP ended "%s")
math(EXPR seconds "${ended} - ${started}")
message("--- stdout:\n${out}\n--- stderr:\n${err}\n--- exit: ${code} after ${seconds} s")
if(NOT code MATCHES "^[0-9]+$")
  message(FATAL_ERROR "the job did not end by itself within ${MAX_SECONDS} s: ${code}")
endif()
if(EXPECT STREQUAL "success" AND NOT code EQUAL 0)
  message(FATAL_ERROR "expected exit code 0, got ${code}")
elseif(EXPECT STREQUAL "failure" AND code EQUAL 0)
  message(FATAL_ERROR "expected a non-zero exit code, got 0")
endif()
if(NOT "${out}${err}" MATCHES "${REGEX}")
  message(FATAL_ERROR "the output does not match: ${REGEX}")
endif()
