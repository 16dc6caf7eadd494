"""Static depth (DistilBERT-style): a k-layer student initialised from evenly spread layers of its teacher."""

import copy

from models.modeling_tf_bert import TFBertForSequenceClassification

import numpy as np


def student_layers(num_layers, k):
    """The teacher layers (0-based) a k-layer student starts from: evenly spread, first and last included.

    `round(linspace(0, L - 1, k))`; a 1-layer student takes layer 0, the one that reads the embeddings.
    On 6 layers: k=2 -> 0, 5; k=3 -> 0, 2, 5; k=4 -> 0, 2, 3, 5.
    """
    if not 1 <= k <= num_layers:
        raise ValueError(f"A student of {k} layers cannot come from a teacher of {num_layers}.")
    if k == 1:
        return [0]
    return [int(i) for i in np.round(np.linspace(0, num_layers - 1, k))]


def make_student(teacher, layers):
    """A plain classifier of `len(layers)` layers with the teacher's embeddings, those layers, pooler and head.

    Args:
        teacher: A built plain `TFBertForSequenceClassification`.
        layers: Teacher layer indices, in the student's order.

    Returns:
        The student (its config a copy of the teacher's with `num_hidden_layers = len(layers)`).
    """
    config = copy.deepcopy(teacher.config)
    config.num_hidden_layers = len(layers)
    student = TFBertForSequenceClassification(config)
    student.build_in_name_scope()
    student.bert.embeddings.set_weights(teacher.bert.embeddings.get_weights())
    for mine, theirs in zip(student.bert.encoder.layer, layers):
        mine.set_weights(teacher.bert.encoder.layer[theirs].get_weights())
    student.bert.pooler.set_weights(teacher.bert.pooler.get_weights())
    student.classifier.set_weights(teacher.classifier.get_weights())
    return student
