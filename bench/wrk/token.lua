-- wrk: token issuance. Every request is the same client-credentials grant (JSON) for
-- BENCH_PROVIDER with BENCH_CLIENT_ID / BENCH_CLIENT_SECRET; each answer is a new token.
wrk.method = "POST"
wrk.path = "/cxone/" .. os.getenv("BENCH_PROVIDER") .. "/auth/token"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"grant_type":"client_credentials","client_id":"' .. os.getenv("BENCH_CLIENT_ID")
  .. '","client_secret":"' .. os.getenv("BENCH_CLIENT_SECRET") .. '"}'
