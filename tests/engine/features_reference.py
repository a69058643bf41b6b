"""`FeatureState.process` as it was before it was tuned for speed (commit aaa392f), kept as the oracle.

`app/ctad/core/features.py` caches lookups and unrolls the table updates; this copy is the plain definition it must
reproduce exactly: the same row for every event and the same state afterwards. Do not optimise it.
"""

from __future__ import annotations

from typing import List

from ctad.core.features import (
    _IP_KIND_CODE,
    _IP_UNKNOWN,
    _ITYPE_CODE,
    _ITYPE_UNKNOWN,
    _UA_KIND_CODE,
    _UA_UNKNOWN,
    DAY,
    FLAG_IMPACT,
    NAN,
    WIN_LONG,
    WIN_SHORT,
    FeatureState,
    IdentityState,
    SourceState,
    _weekend,
    error_class,
    history_key,
    log1p,
    surprise,
)
from ctad.core.normalize import JUDGED_BY_PARAMETERS
from ctad.core.schema import Event, bare_event_name


class ReferenceState(FeatureState):
    """A FeatureState whose `process` is the reference code (same state layout, so profiles load into it)."""

    def process(self, ev: Event) -> List[float]:
        """Features of `ev` from its past, then fold `ev` into the state."""
        t = ev.time
        api = ev.source + ":" + ev.name
        info = self._api_info.get(api) or self.api_info(ev.source, ev.name)
        ecls = error_class(ev.error_code) if ev.error_code else 0
        denied = ecls == 1
        failed = ecls > 0

        st = self.identities.get(ev.identity)
        if st is None:
            st = self.identities[ev.identity] = IdentityState()
        n = st.n

        # --- windows: drop what fell out, then count with this event included
        wl, ws, novel, win_api = st.win_long, st.win_short, st.novel, st.win_api
        cut_long = t - WIN_LONG
        cut_short = t - WIN_SHORT
        while wl and wl[0][0] <= cut_long:
            _, old_api, old_denied = wl.popleft()
            c = win_api[old_api] - 1
            if c:
                win_api[old_api] = c
            else:
                del win_api[old_api]
            if old_denied:
                st.denied_long -= 1
        while ws and ws[0][0] <= cut_short:
            if ws.popleft()[1]:
                st.errors_short -= 1
        while novel and novel[0] <= cut_long:
            novel.popleft()

        # --- source address
        ip = ev.ip
        src = self.sources.get(ip)
        ip_first_global = src is None
        if ip_first_global:
            src = self.sources[ip] = SourceState()
        sws, swd = src.win_short, src.win_denied
        while sws and sws[0] <= cut_short:
            sws.popleft()
        while swd and swd[0] <= cut_long:
            swd.popleft()

        # --- novelty against the identity's history
        api_seen = st.api.get(api)
        ip_seen = st.ip.get(ip)
        hour = int(t // 3600) % 24
        weekend = _weekend(t)
        if n:
            hours = st.hours
            hour_share = (hours[hour - 1] + hours[hour] + hours[(hour + 1) % 24]) / n
            weekend_share = (st.weekend if weekend else n - st.weekend) / n
            log_gap = log1p(t - st.last) if t > st.last else 0.0
            active_hours = min((st.last - st.first) / 3600.0, n)
            if active_hours < 1.0:
                active_hours = 1.0
            rate_vs_usual = (len(wl) + 1) * active_hours / n
            if api_seen is None:
                id_api_first, id_api_log, gap_api = 1, 0.0, NAN
            else:
                id_api_first = 0
                id_api_log = log1p(api_seen[0])
                gap_api = log1p(t - api_seen[2]) if t > api_seen[2] else 0.0
            ip_first = 0 if ip_seen else 1
            net_first = 0 if ev.net in st.net else 1
            uaf_first = 0 if ev.ua_family in st.uaf else 1
            uaf_share = min(st.uaf[ev.ua_family][0] / n, 1.0) if ev.ua_family in st.uaf else 0.0
            region_first = 0 if (not ev.region or ev.region in st.region) else 1
            key_first = 0 if (not ev.access_key or history_key(ev.access_key) in st.key) else 1
            net_count = len(st.net)
            age_days = (t - st.first) / DAY
        else:
            hour_share = weekend_share = log_gap = rate_vs_usual = gap_api = NAN
            id_api_first = ip_first = net_first = uaf_first = region_first = key_first = uaf_share = NAN
            id_api_log = 0.0
            net_count = 0
            age_days = 0.0

        g = self.apis.get(api)
        flags = ev.flags
        mfa = ev.mfa
        ro = ev.read_only
        row = [
            hour_share,
            weekend_share,
            log_gap,
            len(ws) + 1,
            len(wl) + 1,
            rate_vs_usual,
            len(win_api) + (api not in win_api),
            (st.errors_short + 1) if failed else 0,
            (st.denied_long + 1) if denied else 0,
            (len(novel) + 1) if (n and api_seen is None) else 0,
            len(sws) + 1,
            (len(swd) + 1) if denied else 0,
            src.identities,
            log1p(g[0]) if g else 0.0,
            g[1] if g else 0,
            id_api_log,
            id_api_first,
            gap_api,
            ip_first,
            net_first,
            uaf_first,
            region_first,
            key_first,
            1 if ip_first_global else 0,
            net_count,
            log1p(n),
            age_days,
            info.service,
            NAN if ro is None else (1 if ro else 0),
            ecls,
            _UA_KIND_CODE.get(ev.ua_kind, _UA_UNKNOWN),
            _ITYPE_CODE.get(ev.identity_type, _ITYPE_UNKNOWN),
            _IP_KIND_CODE.get(ev.ip_kind, _IP_UNKNOWN),
            1 if ev.invoked_by else 0,
            1 if ev.console else 0,
            NAN if mfa is None else (1 if mfa else 0),
            info.risk,
            info.category,
            info.tactic_number,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            surprise(api_seen[0] if api_seen else 0, n, g[0] if g else 0, self.total, len(self.apis)),
            0.0,
            min(info.risk, 3) if bare_event_name(ev.name) in JUDGED_BY_PARAMETERS else info.risk,
            log1p(api_seen[0]) if api_seen else 0.0,
            uaf_share,
            1 if "customer_key" in flags else 0,
        ]
        if flags:
            for i, flag in enumerate(("public", "cross_account", "open_ingress", "logging_off", "credential_other",
                                      "self_grant", "short_expiry")):  # fmt: skip
                row[39 + i] = 1 if flag in flags else 0
            row[48] = max([row[48]] + [FLAG_IMPACT.get(f, 0) for f in flags])
        if flags or info.risk >= 3:  # flagged or sensitive: this very request through this tool
            akey = ev.source + ":" + ev.name + "|" + "|".join(flags) + "#" + (ev.ua_family or "")
            row[49] = log1p(st.action[akey][0]) if akey in st.action else 0.0
            if akey in st.action:
                st.action[akey][0] += 1
                st.action[akey][2] = max(st.action[akey][2], t)
            elif len(st.action) < 1024:
                st.action[akey] = [1, t, t]
        before = sum(1 for v in self.identities.values() if v.n)
        if g and before:
            row[47] = g[1] / before

        # --- fold the event in
        if n == 0:
            st.first = t
            self.active += 1
        st.n = n + 1
        if t > st.last:
            st.last = t
        st.hours[hour] += 1
        if weekend:
            st.weekend += 1
        if api_seen is None:
            st.api[api] = [1, t, t]
            if n:
                novel.append(t)
            if g is None:
                g = self.apis[api] = [0, 0]
            g[1] += 1
        else:
            api_seen[0] += 1
            if t > api_seen[2]:
                api_seen[2] = t
            if g is None:  # known to the identity (profile) but not to the global table
                g = self.apis[api] = [0, 1]
        g[0] += 1
        if ip_seen is None:
            st.ip[ip] = [1, t, t]
            src.identities += 1
        else:
            ip_seen[0] += 1
            if t > ip_seen[2]:
                ip_seen[2] = t
        for table, value in ((st.net, ev.net), (st.uaf, ev.ua_family), (st.region, ev.region or None),
                             (st.key, history_key(ev.access_key) or None)):  # fmt: skip
            if value is not None:
                entry = table.get(value)
                if entry is None:
                    table[value] = [1, t, t]
                else:
                    entry[0] += 1
                    if t > entry[2]:
                        entry[2] = t
        wl.append((t, api, denied))
        win_api[api] = win_api.get(api, 0) + 1
        ws.append((t, failed))
        if denied:
            st.denied_long += 1
            swd.append(t)
        if failed:
            st.errors_short += 1
        src.n += 1
        sws.append(t)
        self.total += 1
        if self.first_time is None:
            self.first_time = t
        if self.last_time is None or t > self.last_time:
            self.last_time = t
        return row
