# Project-wide warning flags. RZ_WERROR turns them into errors (CI sets it).
function(rz_set_warnings target)
    target_compile_options(${target} PRIVATE
        $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow=local -Wnon-virtual-dtor -Wno-missing-field-initializers
            -Wno-maybe-uninitialized -Wno-restrict>  # GCC 12 false positives (std::variant, std::string operator+) at -O3
        $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<BOOL:${RZ_WERROR}>>:-Werror>)
endfunction()
