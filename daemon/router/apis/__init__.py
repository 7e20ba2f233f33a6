"""The client APIs other than Chat Completions, each a translation onto the
one internal request (the Chat Completions shape) and back, streams included.

    anthropic_in / anthropic_out   Anthropic Messages   POST /v1/messages
    responses_in / responses_out   OpenAI Responses     POST /v1/responses
    chat_stream                    the upstream's Chat Completions answer, as events
    stops                          stop sequences met here (Anthropic names the one met)
    aliases                        a client's model name -> a model the pool serves
    types                          Translated, Refused: what crosses these modules
    routes                         the thin endpoints that tie them to the forwarder
"""
