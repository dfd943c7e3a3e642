# Cross-compiles for 64-bit ARM Linux (phones, Raspberry Pi 4/5, Graviton) with
# Debian's g++-aarch64-linux-gnu, against the arm64 libraries that Debian's
# multiarch installs beside the host's ones (dpkg --add-architecture arm64;
# scripts/cross-build-aarch64 does both). Use:
#   cmake -B build-aarch64 --toolchain cmake/aarch64-linux-gnu.cmake -DFLASHNAS_AGENT_ONLY=ON
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# Multiarch keeps the arm64 libraries and their CMake packages in
# /usr/lib/aarch64-linux-gnu of the host's own root, so there is no sysroot:
# with this set, find_library and find_package look in that folder and never in
# /usr/lib/x86_64-linux-gnu. Header-only packages (Eigen, nlohmann-json, LBFGS++)
# are architecture-independent and come from /usr/include and /usr/share as usual.
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
# pkg-config (cpp-httplib) must read the arm64 .pc files only: PKG_CONFIG_LIBDIR
# replaces its default search path, which holds the x86-64 ones.
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)

# With qemu-user installed, ctest and add_test run the aarch64 test programs
# through it (CMake prefixes every test command with this emulator).
find_program(FLASHNAS_QEMU_AARCH64 qemu-aarch64)
if(FLASHNAS_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${FLASHNAS_QEMU_AARCH64})
endif()
