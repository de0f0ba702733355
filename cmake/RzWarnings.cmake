# Project-wide warning flags. RZ_WERROR turns them into errors (CI sets it).
function(rz_set_warnings target)
    target_compile_options(${target} PRIVATE
        $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wnon-virtual-dtor -Wno-missing-field-initializers>
        # GCC only: -Wshadow=local; GCC 12 false positives (std::variant, std::string operator+) at -O3
        $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<CXX_COMPILER_ID:GNU>>:-Wshadow=local -Wno-maybe-uninitialized -Wno-restrict>
        $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<BOOL:${RZ_WERROR}>>:-Werror>)
endfunction()
