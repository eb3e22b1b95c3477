-- wrk script of bench/record-soak.sh: a long run of small JSON API reads.
--
-- SOAK_REQUESTS     stop once this many responses have arrived (wrk -t1: one
--                   Lua state counts them all)
-- SOAK_DONE_FILE    created then: wrk itself runs until its -d duration or
--                   SIGINT, which record-soak.sh sends when it sees the file
-- SOAK_DELAY_MS     pause of each connection between its requests, which
--                   sets the rate (connections * 1000 / delay per second)
-- SOAK_CLOSE_EVERY  every Nth request asks for Connection: close, so wrk
--                   opens a new connection: per-connection state churns too

local limit = tonumber(os.getenv("SOAK_REQUESTS") or "1000000")
local pause = tonumber(os.getenv("SOAK_DELAY_MS") or "0")
local close_every = tonumber(os.getenv("SOAK_CLOSE_EVERY") or "0")
local done_file = os.getenv("SOAK_DONE_FILE")
local sent, done = 0, 0

function request()
    sent = sent + 1
    local headers = {
        ["Accept"] = "application/json",
        ["User-Agent"] = "reel-soak/1",
        ["X-Request-Id"] = string.format("soak-%09d", sent),
    }
    if close_every > 0 and sent % close_every == 0 then
        headers["Connection"] = "close"
    end
    -- Varied targets, as an API sees them; nginx serves the same file.
    local path = string.format("/data.json?user=%d&page=%d", sent % 1000, sent % 7)
    return wrk.format("GET", path, headers)
end

function delay()
    return pause
end

function response(status, headers, body)
    done = done + 1
    if done == limit then
        wrk.thread:stop()
        if done_file then
            io.open(done_file, "w"):close()
        end
    end
end
