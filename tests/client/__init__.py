"""Tests of the Calls API client (client/): requests, answers, errors, every transport over
real sockets.
"""
