#include "updraft/clock.h"

namespace updraft {

const SystemClock& SystemClock::instance() {
  static const SystemClock* clock = new SystemClock();  // never destroyed: safe at exit
  return *clock;
}

}  // namespace updraft
