# The worker's sources apart from main.c: every role and what they share.
# One list for chirp-worker (workers/CMakeLists.txt) and for the fuzz target
# that runs the roles' own decoding (tests/fuzz/CMakeLists.txt), so a new
# file of the worker is added here once.
set(CHIRP_WORKER_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/dead.c
  ${CMAKE_CURRENT_LIST_DIR}/fanout_lists.c
  ${CMAKE_CURRENT_LIST_DIR}/like_batch.c
  ${CMAKE_CURRENT_LIST_DIR}/loop.c
  ${CMAKE_CURRENT_LIST_DIR}/persist_marks.c
  ${CMAKE_CURRENT_LIST_DIR}/role_fanout.c
  ${CMAKE_CURRENT_LIST_DIR}/role_likes.c
  ${CMAKE_CURRENT_LIST_DIR}/role_notify.c
  ${CMAKE_CURRENT_LIST_DIR}/role_persist.c
)
