# SPDX-License-Identifier: MIT
# Bash completion for poolpatch(1): subcommands, their sub-verbs and options, registered pool
# names (asked of the daemon with `poolpatch pool list --json` when jq is present) and files.
_poolpatch_pools()
{
    command -v jq >/dev/null 2>&1 || return 0
    poolpatch pool list --json 2>/dev/null | jq -r '.pools[]?.name // empty' 2>/dev/null
}

_poolpatch()
{
    local cur prev cmd
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    cmd=${COMP_WORDS[1]}
    local common="--server --token-file --json --help"
    local cmds="version serve pool updates plan apply upgrade upgrade-host host rollouts rollout
        retry cancel client-id webhook window schedule gate xapi sim"

    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=($(compgen -W "$cmds --help --version" -- "$cur"))
        return 0
    fi
    case "$prev" in
        --config|--db|--token-file|--password-file|--ca-file|--file|--export-csv|--scenario|\
        --known-hosts|--web-root|--secret-file|--tls-dir|--read-token-file)
            COMPREPLY=($(compgen -f -- "$cur"))
            return 0 ;;
        --policy) COMPREPLY=($(compgen -W "return minimal" -- "$cur")); return 0 ;;
        --sort) COMPREPLY=($(compgen -W "pool date" -- "$cur")); return 0 ;;
        --log-level) COMPREPLY=($(compgen -W "debug info warn error off" -- "$cur")); return 0 ;;
        --log-format) COMPREPLY=($(compgen -W "text json" -- "$cur")); return 0 ;;
    esac
    case "$cmd" in
        serve)
            COMPREPLY=($(compgen -W "--config --listen --db --token-file --read-token-file
                --web-root --catalog-url --vendor-origin --server-name --check-interval
                --ca-bundle --log-level --log-format --rotate-key --help" -- "$cur")) ;;
        pool)
            if [ "$COMP_CWORD" -eq 2 ]; then
                COMPREPLY=($(compgen -W "add list set trust remove" -- "$cur"))
            elif [ "${COMP_WORDS[COMP_CWORD-1]}" = "--live-patching" ]; then
                COMPREPLY=($(compgen -W "on off" -- "$cur"))
            elif [[ "${COMP_WORDS[2]}" =~ ^(remove|set|trust)$ ]] && [ "${cur#-}" = "$cur" ]; then
                COMPREPLY=($(compgen -W "$(_poolpatch_pools)" -- "$cur"))
            else
                COMPREPLY=($(compgen -W "--url --user --password-file --ca-file --verify-ca
                    --fingerprint --insecure-http --host --live-patching $common" -- "$cur"))
            fi ;;
        updates)
            if [ "$COMP_CWORD" -eq 2 ] && [ "${cur#-}" = "$cur" ]; then
                COMPREPLY=($(compgen -W "check dismiss restore web-page download" -- "$cur"))
            else
                COMPREPLY=($(compgen -W "--by-update --by-server --sort --export-csv --all --raw
                    $common" -- "$cur"))
            fi ;;
        plan|apply|upgrade)
            if [ "${cur#-}" = "$cur" ]; then
                COMPREPLY=($(compgen -W "$(_poolpatch_pools)" -- "$cur"))
            else
                COMPREPLY=($(compgen -W "--automated --update --file --host --manual-tasks
                    --policy --max-parallel --stay-on-release --yes --no-follow --upgrade --to
                    --url --manual --shutdown --apply-updates --plan $common" -- "$cur"))
            fi ;;
        upgrade-host)
            COMPREPLY=($(compgen -W "reboot skip --yes --server --token-file --help" -- "$cur")) ;;
        host)
            COMPREPLY=($(compgen -W "forget --yes --server --token-file --help" -- "$cur")) ;;
        rollout|retry|cancel|rollouts)
            COMPREPLY=($(compgen -W "--watch $common" -- "$cur")) ;;
        client-id)
            if [ "$COMP_CWORD" -eq 2 ]; then
                COMPREPLY=($(compgen -W "import" -- "$cur"))
            else
                COMPREPLY=($(compgen -f -- "$cur"))
            fi ;;
        webhook)
            if [ "$COMP_CWORD" -eq 2 ]; then
                COMPREPLY=($(compgen -W "add list remove deliveries" -- "$cur"))
            else
                COMPREPLY=($(compgen -W "--secret-file --events --limit $common" -- "$cur"))
            fi ;;
        window|schedule)
            if [ "$COMP_CWORD" -eq 2 ] && [ "${cur#-}" = "$cur" ]; then
                COMPREPLY=($(compgen -W "add list remove" -- "$cur"))
            elif [ "$prev" = --pool ]; then
                COMPREPLY=($(compgen -W "$(_poolpatch_pools)" -- "$cur"))
            elif [ "$cmd" = window ]; then
                COMPREPLY=($(compgen -W "--recurrence --duration --pool --tz $common" -- "$cur"))
            else
                COMPREPLY=($(compgen -W "--recurrence --pool --tz --policy --max-parallel
                    $common" -- "$cur"))
            fi ;;
        gate)
            if [ "$COMP_CWORD" -eq 2 ] && [ "${cur#-}" = "$cur" ]; then
                COMPREPLY=($(compgen -W "set list remove" -- "$cur"))
            elif [ "$prev" = --pool ]; then
                COMPREPLY=($(compgen -W "$(_poolpatch_pools)" -- "$cur"))
            else
                COMPREPLY=($(compgen -W "--pool --command --url --timeout --output-limit --wait
                    --no-builtin $common" -- "$cur"))
            fi ;;
        xapi)
            if [ "$COMP_CWORD" -eq 2 ]; then
                COMPREPLY=($(compgen -W "call" -- "$cur"))
            else
                COMPREPLY=($(compgen -W "--url --user --password-file --xml --json --wait
                    --timeout --ca-file --known-hosts --tofu --debug" -- "$cur"))
            fi ;;
        sim)
            COMPREPLY=($(compgen -W "--scenario --port --base-address --time-scale --seed
                --fileservice-address --threads --tls --tls-dir --from-pool --user --password-file --ca-file --known-hosts --log-level --help" -- "$cur")) ;;
    esac
    return 0
}
complete -F _poolpatch poolpatch
