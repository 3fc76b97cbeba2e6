#ifndef CHIREDIS_SHIM_H
#define CHIREDIS_SHIM_H

// hiredis is used only as the RESP codec: redisFormatCommandArgv encodes, and a
// redisReader decodes. Both import into Swift as they are; the variadic
// redisCommand and the reader macros (redisReaderGetError) do not, and are not
// needed, so nothing is wrapped here.
#include <hiredis/hiredis.h>

#endif
