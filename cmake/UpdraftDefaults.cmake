# Warnings as errors everywhere; sanitizers when asked.
set(UPDRAFT_WARNINGS -Wall -Wextra -Wpedantic -Werror -Wno-missing-field-initializers)
if(UPDRAFT_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=all)
  add_link_options(-fsanitize=address,undefined)
endif()

function(updraft_defaults target)
  target_compile_options(${target} PRIVATE ${UPDRAFT_WARNINGS})
endfunction()

# updraft_component(<target> <folder> [DEPS ...]): a static library from every .cc in <folder>.
# Each engine component has its own library so one component's build never depends on another
# component's unfinished files.
function(updraft_component target folder)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${folder}/*.cc)
  if(srcs)
    add_library(${target} STATIC ${srcs})
    target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR}/engine/include)
    target_link_libraries(${target} PUBLIC ${ARG_DEPS})
    updraft_defaults(${target})
  else()
    add_library(${target} INTERFACE)
    target_include_directories(${target} INTERFACE ${PROJECT_SOURCE_DIR}/engine/include)
    target_link_libraries(${target} INTERFACE ${ARG_DEPS})
  endif()
endfunction()

# updraft_test(<component> DEPS ...): one Catch2 executable from tests/<component>/*.cc.
function(updraft_test component)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${component}/*.cc)
  if(NOT srcs)
    return()
  endif()
  add_executable(test_${component} ${srcs})
  target_link_libraries(test_${component} PRIVATE ${ARG_DEPS} Catch2::Catch2WithMain)
  target_include_directories(test_${component} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_compile_definitions(test_${component} PRIVATE
    UPDRAFT_SOURCE_DIR="${PROJECT_SOURCE_DIR}" UPDRAFT_BINARY_DIR="${PROJECT_BINARY_DIR}")
  updraft_defaults(test_${component})
  add_test(NAME ${component} COMMAND test_${component})
  set_tests_properties(${component} PROPERTIES TIMEOUT 600)
endfunction()

# updraft_scaler_test(<folder> DEPS ...): tests/scaler_<folder>/*.cc compiled with that scaler's
# own sources (scalers/<folder>/*.cc), so it builds even while another scaler is being edited.
function(updraft_scaler_test folder)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  file(GLOB test_srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/scaler_${folder}/*.cc)
  file(GLOB scaler_srcs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/scalers/${folder}/*.cc)
  if(NOT test_srcs)
    return()
  endif()
  add_executable(test_scaler_${folder} ${test_srcs} ${scaler_srcs})
  target_link_libraries(test_scaler_${folder} PRIVATE updraft_scalers_common ${ARG_DEPS}
    Catch2::Catch2WithMain)
  target_include_directories(test_scaler_${folder} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_compile_definitions(test_scaler_${folder} PRIVATE
    UPDRAFT_SOURCE_DIR="${PROJECT_SOURCE_DIR}" UPDRAFT_BINARY_DIR="${PROJECT_BINARY_DIR}")
  updraft_defaults(test_scaler_${folder})
  add_test(NAME scaler_${folder} COMMAND test_scaler_${folder})
  set_tests_properties(scaler_${folder} PROPERTIES TIMEOUT 600)
endfunction()
