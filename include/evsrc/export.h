/* SPDX-License-Identifier: MIT */
#ifndef EVSRC_EXPORT_H
#define EVSRC_EXPORT_H

/*
 * EVSRC_EXPORT marks every public function. The library is built with
 * default visibility hidden, so whatever lacks this macro stays internal.
 */
#if defined(EVSRC_BUILDING_LIBRARY) && defined(_WIN32)
/* A DLL exports what is marked, and then only that (src/libevsrc.map is the ELF form). */
#define EVSRC_EXPORT __declspec(dllexport)
#elif defined(EVSRC_BUILDING_LIBRARY) && (defined(__GNUC__) || defined(__clang__))
#define EVSRC_EXPORT __attribute__((visibility("default")))
#else
#define EVSRC_EXPORT
#endif

/* Lets the headers be used from C++ without the caller wrapping them. */
#ifdef __cplusplus
#define EVSRC_BEGIN_DECLS extern "C" {
#define EVSRC_END_DECLS }
#else
#define EVSRC_BEGIN_DECLS
#define EVSRC_END_DECLS
#endif

#endif /* EVSRC_EXPORT_H */
