/*
 * fuzz_event.c — a message body as a worker decodes it: the envelope
 * (chirp_event_decode, workers/loop.c) and then the decode step of every
 * role (persist, fan-out, notify), exactly the functions the worker runs,
 * each followed by its free_state.
 *
 * An accepted envelope must survive chirp_event_encode -> decode
 * unchanged; a role's decode either accepts (state to free), ignores the
 * type (CHIRP_ENOTFOUND) or refuses with a reason for the dead letter.
 */
#include "chirp_error.h"
#include "chirp_event.h"
#include "fuzz.h"
#include "worker.h"

static const wk_role_ops *const roles[] = {&wk_role_persist, &wk_role_fanout, &wk_role_notify};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *buf = fuzz_exact(data, size);
  chirp_event ev;
  char why[200];
  why[0] = '\0';
  int rc = chirp_event_decode(buf, size, &ev, why, sizeof why);
  free(buf);
  if (rc != 0) {
    FUZZ_ASSERT(rc == CHIRP_EMALFORMED && why[0] != '\0');
    return 0;
  }
  FUZZ_ASSERT(ev.event_id > 0 && ev.actor_id > 0 && json_is_object(ev.payload));
  FUZZ_ASSERT(strchr(ev.type, '.') != NULL);

  /* Re-encoded, the envelope reads back the same. */
  char *wire;
  size_t len;
  FUZZ_ASSERT(chirp_event_encode(ev.event_id, ev.type, ev.occurred_ms, ev.actor_id, ev.payload,
                                 &wire, &len) == 0);
  chirp_event again;
  FUZZ_ASSERT(chirp_event_decode(wire, len, &again, why, sizeof why) == 0);
  free(wire);
  FUZZ_ASSERT(again.event_id == ev.event_id && again.actor_id == ev.actor_id &&
              again.occurred_ms == ev.occurred_ms && strcmp(again.type, ev.type) == 0 &&
              json_equal(again.payload, ev.payload));
  chirp_event_cleanup(&again);

  for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
    void *state = NULL;
    why[0] = '\0';
    rc = roles[i]->decode(&ev, &state, why, sizeof why);
    if (rc == 0) {
      roles[i]->free_state(state);
    } else {
      FUZZ_ASSERT(rc == CHIRP_ENOTFOUND || rc == CHIRP_EMALFORMED);
      FUZZ_ASSERT(rc != CHIRP_EMALFORMED || why[0] != '\0');
    }
  }
  chirp_event_cleanup(&ev);
  return 0;
}
