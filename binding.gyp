# node-gyp description of build/Release/ual_native.node (the native kernels). scripts/build-native.mjs passes the
# variables below: ual_openblas=1 with OpenBLAS's include/lib dirs links cblas_sgemm, 0 builds the portable GEMM.
{
  'variables': {
    'ual_openblas%': 0,
    'ual_openblas_include%': '',
    'ual_openblas_libdir%': '',
    # 'none' for the linker's default dirs; an rpath there could shadow LD_LIBRARY_PATH
    'ual_openblas_rpath%': 'none',
    # 'none' when the compiler rejects it or UAL_MARCH=none; -march=native is fine because the binary is built where it runs
    'ual_march%': '-march=native',
    'ual_napi_include%': '<!(node -p "require(\'node-addon-api\').include_dir")',
  },
  'targets': [
    {
      'target_name': 'ual_native',
      'sources': ['native/addon.cc', 'native/gemm.cc', 'native/kernels.cc', 'native/attention.cc', 'native/bf16.cc', 'native/pool.cc'],
      'include_dirs': ['<(ual_napi_include)'],
      'defines': [
        'NAPI_VERSION=8',
        'NAPI_CPP_EXCEPTIONS',
        'NODE_ADDON_API_DISABLE_DEPRECATED',
      ],
      # no -ffast-math: results must match PyTorch, so no reassociation and NaN/inf keep IEEE semantics;
      # -ffp-contract=off keeps a*b+c unfused except where the code asks for an FMA explicitly;
      # -fno-math-errno only lets sqrt inline (errno is never read).
      'cflags': ['-O3', '-ffp-contract=off', '-fno-math-errno'],
      'cflags!': ['-fno-exceptions'],
      'cflags_cc!': ['-fno-exceptions'],
      'conditions': [
        # UAL_BUILD_FLAGS is what info().flags reports
        ['ual_march!="none"', {
          'cflags': ['<(ual_march)'],
          'defines': ['UAL_BUILD_FLAGS="-O3 <(ual_march) -ffp-contract=off -fno-math-errno"'],
        }, {
          'defines': ['UAL_BUILD_FLAGS="-O3 -ffp-contract=off -fno-math-errno"'],
        }],
        ['ual_openblas==1', {
          'defines': ['UAL_OPENBLAS'],
          'include_dirs': ['<(ual_openblas_include)'],
          'libraries': ['-L<(ual_openblas_libdir)', '-lopenblas'],
        }],
        ['ual_openblas==1 and ual_openblas_rpath!="none"', {'libraries': ['-Wl,-rpath,<(ual_openblas_rpath)']}],
        ['OS=="mac"', {
          'xcode_settings': {
            'GCC_ENABLE_CPP_EXCEPTIONS': 'YES',
            'CLANG_CXX_LIBRARY': 'libc++',
            'MACOSX_DEPLOYMENT_TARGET': '11.0',
            'OTHER_CFLAGS': ['-O3', '-ffp-contract=off', '-fno-math-errno'],
          },
        }],
      ],
    },
  ],
}
