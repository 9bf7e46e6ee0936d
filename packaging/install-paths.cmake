# Run by `cmake --install` (see CMakeLists.txt): writes mtasts.pc and the
# systemd unit with the paths of this installation, that is with the prefix
# given at install time (--prefix), not only the one chosen at configure time.
# DESTDIR is honoured by file(INSTALL).
foreach(dir BINDIR LIBDIR INCLUDEDIR SYSCONFDIR)
  if(IS_ABSOLUTE "${MTASTS_${dir}}")
    set(CMAKE_INSTALL_FULL_${dir} "${MTASTS_${dir}}")
  else()
    set(CMAKE_INSTALL_FULL_${dir} "${CMAKE_INSTALL_PREFIX}/${MTASTS_${dir}}")
  endif()
endforeach()
if(IS_ABSOLUTE "${MTASTS_SYSTEMD_UNITDIR}")
  set(unitdir "${MTASTS_SYSTEMD_UNITDIR}")
else()
  set(unitdir "${CMAKE_INSTALL_PREFIX}/${MTASTS_SYSTEMD_UNITDIR}")
endif()
set(PROJECT_VERSION "${MTASTS_VERSION}")
configure_file("${MTASTS_SOURCE_DIR}/packaging/mtasts.pc.in"
  "${MTASTS_BINARY_DIR}/installed/mtasts.pc" @ONLY)
configure_file("${MTASTS_SOURCE_DIR}/packaging/mtasts-resolver.service.in"
  "${MTASTS_BINARY_DIR}/installed/mtasts-resolver.service" @ONLY)
configure_file("${MTASTS_SOURCE_DIR}/packaging/mtasts-serve.service.in"
  "${MTASTS_BINARY_DIR}/installed/mtasts-serve.service" @ONLY)
file(INSTALL DESTINATION "${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig" TYPE FILE
  FILES "${MTASTS_BINARY_DIR}/installed/mtasts.pc")
file(INSTALL DESTINATION "${unitdir}" TYPE FILE
  FILES "${MTASTS_BINARY_DIR}/installed/mtasts-resolver.service"
        "${MTASTS_BINARY_DIR}/installed/mtasts-serve.service")
