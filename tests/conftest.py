"""Shared fixtures. Data fixtures use the small built-in news corpus (300 stories, ~73k tokens)."""

from __future__ import annotations

import pytest
import torch

from bertlab.data import get_tokenizer, load_corpus


@pytest.fixture(scope="session")
def news_corpus():
    return load_corpus("news-en")


@pytest.fixture(scope="session")
def news_tokenizer(news_corpus):
    return get_tokenizer(news_corpus, vocab_size=4096)


@pytest.fixture(scope="session")
def zh_corpus():
    return load_corpus("peoples-daily-zh")


@pytest.fixture(scope="session")
def zh_tokenizer(zh_corpus):
    return get_tokenizer(zh_corpus, vocab_size=8192)


@pytest.fixture
def one_thread():
    """Tiny models run fastest on one thread, and far slower with two on a busy machine (module-wide with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
